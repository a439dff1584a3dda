"""`make serve`: migrate, collect static files, then gunicorn and a django-q2 cluster together.

Both run in their own process groups so a Ctrl-C in the terminal reaches only this supervisor,
which stops them in order (SIGTERM: gunicorn finishes its requests, the cluster its tasks) and
exits 0. If either stops on its own, the other is stopped too and the exit status is non-zero.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 60


def _run(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, start_new_session=True)


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    try:
        _run("migrate", "--noinput")
        _run("collectstatic", "--noinput", "--verbosity", "0")
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    except KeyboardInterrupt:  # Ctrl-C before anything was serving
        return 130
    stop_requested = False

    def request_stop(signum, frame):
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    processes = {
        "gunicorn": _start(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.py")]
        ),
        "qcluster": _start([sys.executable, "manage.py", "qcluster"]),
    }
    host = os.environ.get("HOST", "127.0.0.1:8000")
    print(f"Serving http://{host}/admin/ (gunicorn and a task cluster; Ctrl-C stops both)")
    sys.stdout.flush()
    while not stop_requested and all(process.poll() is None for process in processes.values()):
        time.sleep(0.2)
    _stop(processes)
    if stop_requested:
        return 0
    ended = [name for name, process in processes.items() if process.returncode]
    print(f"serve stopped: {', '.join(ended) or 'a process'} exited on its own", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
