"""`make serve`: migrate, collect static files, then gunicorn and a django-q2 cluster together.

    python -m config.serve        (HOST=127.0.0.1:8000 by default, from config/gunicorn.py)

The two run under `make run`'s supervisor (config/launcher.py): each in a process group of
its own, asked once to stop on Ctrl-C or SIGTERM (gunicorn finishes its requests, the cluster
its tasks), exit 0; if either stops on its own, the other is stopped and the exit is non-zero.
"""

import os
import subprocess
import sys
from pathlib import Path

from config.launcher import Child, Supervisor, terminal_foreground

ROOT = Path(__file__).resolve().parent.parent


def cluster_command() -> list[str]:
    """The task cluster at a lower CPU priority (TASK_CLUSTER_NICE, default 10; 0 keeps the web's):
    on one machine, an import or a backup competing at the web's priority makes every page wait
    (docs/deploy.md, Load); `nice` execs the cluster, so it keeps its pid and its signals."""
    value = os.environ.get("TASK_CLUSTER_NICE", "10")
    if not value.isdigit() or int(value) > 19:
        raise SystemExit(f"Configuration error: TASK_CLUSTER_NICE must be 0 to 19, not {value!r}.")
    niceness = int(value)
    cluster = [sys.executable, "manage.py", "qcluster"]
    return ["nice", "-n", str(niceness), *cluster] if niceness else cluster


def children() -> list[Child]:
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.py")]
    return [
        Child("task cluster", cluster_command(), whole_group=False),
        # The master stops its own workers; signalled alone, it waits for their requests.
        Child("web server", gunicorn, whole_group=False),
    ]


def main() -> int:
    processes = children()  # a misconfiguration stops here, before anything runs
    with terminal_foreground():
        try:
            for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v", "0"]):
                subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True)
        except subprocess.CalledProcessError as exc:
            return exc.returncode or 1
        except KeyboardInterrupt:  # Ctrl-C before anything was serving
            return 130
        return Supervisor(processes).run()


if __name__ == "__main__":
    sys.exit(main())
