"""`make run`'s supervisor: the development web server and a django-q2 cluster, stopped together.

    python -m config.launcher [HOST:PORT]

Each child runs in a process group of its own, so a Ctrl-C or a SIGTERM reaches this process
only; it then asks each child to stop exactly once, in the way that child shuts down cleanly,
waits for both and exits 0. A terminal's Ctrl-C goes to the whole foreground process group:
without separate groups the cluster would get the signal twice (from the terminal and from a
supervisor) and django-q2 re-enters its stop handler until it fails with a RecursionError.

When started from a terminal (as by `make run`), this process also becomes the terminal's
foreground group while it runs, so Ctrl-C does not reach `make` either: make would otherwise
report "Interrupt" and exit non-zero however cleanly the servers stopped.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

# Seconds the children get to stop after being asked; a running task may need a moment to end.
STOP_GRACE_SECONDS = 30


class Child:
    """One supervised command, stopped by one SIGTERM."""

    # SIGTERM, not SIGINT: runserver's autoreloader turns it into a quiet exit 0 (and a
    # process still importing just ends), where SIGINT prints a KeyboardInterrupt traceback
    # if it lands during start-up. django-q2's cluster stops cleanly on either.
    stop_signal = signal.SIGTERM

    def __init__(self, name: str, argv: list[str], *, whole_group: bool):
        self.name = name
        self.argv = argv
        # runserver's autoreloader runs the server in a second process: both must hear the
        # signal. django-q2's cluster stops its own sentinel and workers, which must not be
        # signalled directly (the sentinel dies at once on SIGTERM).
        self.whole_group = whole_group
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, process_group=0)

    def ask_to_stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self.whole_group:
                os.killpg(self.process.pid, self.stop_signal)
            else:
                self.process.send_signal(self.stop_signal)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stopped_cleanly(self) -> bool:
        """Exited 0, or ended by the very signal it was sent."""
        code = self.process.returncode
        return code in (0, -self.stop_signal)


def children(host: str) -> list[Child]:
    manage = [sys.executable, "manage.py"]
    return [
        Child("task cluster", [*manage, "qcluster"], whole_group=False),
        Child("web server", [*manage, "runserver", host], whole_group=True),
    ]


class Supervisor:
    def __init__(self, supervised: list[Child]):
        self.children = supervised
        self.stop_requested = False

    def request_stop(self, signum, frame) -> None:
        # Later signals (a second Ctrl-C) are ignored: the children are already stopping.
        if self.stop_requested:
            return
        self.stop_requested = True
        print(f"\nStopping the {' and the '.join(c.name for c in self.children)}…", flush=True)
        for child in self.children:
            child.ask_to_stop()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        for child in self.children:
            child.start()
        print(f"Ctrl-C, or SIGTERM to process {os.getpid()}, stops both.", flush=True)
        failed = self._wait_for_first_exit()
        if failed is not None:
            print(f"The {failed.name} stopped (exit status {failed.process.returncode}).")
            self.request_stop(None, None)
        if not self._wait_for_all(STOP_GRACE_SECONDS):
            for child in self.children:
                if child.process.poll() is None:
                    print(f"The {child.name} did not stop in {STOP_GRACE_SECONDS} s: killed.")
                    child.kill()
            self._wait_for_all(5)
            return 1
        if failed is not None or not all(child.stopped_cleanly() for child in self.children):
            return 1
        print("Stopped.", flush=True)
        return 0

    def _wait_for_first_exit(self) -> Child | None:
        """Waits until a stop is requested (None) or a child ends on its own (that child)."""
        while not self.stop_requested:
            for child in self.children:
                if child.process.poll() is not None:
                    return child
            time.sleep(0.2)
        return None

    def _wait_for_all(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if all(child.process.poll() is not None for child in self.children):
                return True
            time.sleep(0.1)
        return False


@contextlib.contextmanager
def terminal_foreground():
    """Makes this process the terminal's foreground process group for the duration, so that
    Ctrl-C is delivered here and not to the parent (make); a no-op without a terminal."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        yield
        return
    try:
        previous = os.tcgetpgrp(tty)
        if previous != os.getpgrp():  # started in the background: leave the terminal alone
            yield
            return
        # A background group that touches the terminal's settings is stopped by SIGTTOU.
        old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.setpgid(0, 0)
            os.tcsetpgrp(tty, os.getpgrp())
            yield
        finally:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(tty, previous)
            signal.signal(signal.SIGTTOU, old_ttou)
    finally:
        os.close(tty)


def main(argv: list[str]) -> int:
    host = argv[0] if argv else "127.0.0.1:8000"
    with terminal_foreground():
        return Supervisor(children(host)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
