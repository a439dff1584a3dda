"""Validating ahead of the writer: the next batches are read and validated while the current
one is written, in a thread or in a forked process.

The rules are pure functions, so validation needs no database and can run anywhere. A thread
overlaps it with the database's share of the work only: the writer's Python and the
validation's Python still take turns on the GIL. A forked process runs it on another core; the
batches come back pickled through a pipe, in the compact form of `pipeline.core.Batch`.
Large files take the process (see services.execution.execute); forking is avoided in a process
that may run other threads, such as a threaded web server.

Either way at most `depth` batches wait ahead, so memory stays bounded whatever the file size.
"""

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator

logger = logging.getLogger(__name__)

THREAD = "thread"
PROCESS = "process"
INLINE = "inline"
MODES = (INLINE, THREAD, PROCESS)

_END = None
#: The GIL switch interval while a validation thread runs (see ShortSwitchInterval).
THREAD_SWITCH_INTERVAL = 0.0005


class ShortSwitchInterval:
    """Shortens the process-wide GIL switch interval while at least one validation thread runs.

    The writer waits on the database a dozen times a batch; with the default 5 ms interval it
    then waits again for the validation thread to hand the GIL back (docs/imports.md gives the
    measurement). The interval belongs to the whole process, so overlapping imports share one
    change, counted under a lock: the first to start saves the interval, the last to stop
    restores it, in whatever order they end."""

    def __init__(self, interval: float):
        self._interval = interval
        self._lock = threading.Lock()
        self._users = 0
        self._saved: float | None = None

    @property
    def users(self) -> int:
        return self._users

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(self._interval)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                sys.setswitchinterval(self._saved)
                self._saved = None


SWITCH_INTERVAL = ShortSwitchInterval(THREAD_SWITCH_INTERVAL)


class ThreadPrefetch:
    """Runs a batch generator in a thread, at most `depth` batches ahead; its exceptions are
    raised here, in order, after the batches before them."""

    def __init__(self, make_batches: Callable[[], Iterator], depth: int = 2):
        self._batches = make_batches()
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        SWITCH_INTERVAL.acquire()
        self._thread = threading.Thread(target=self._produce, name="import-reader", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            SWITCH_INTERVAL.release()
            raise

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self):
        try:
            for batch in self._batches:
                if not self._put(batch):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self):
        self._stop.set()
        try:
            self._thread.join()
        finally:
            SWITCH_INTERVAL.release()


class _Failed:
    """An exception of the validation process, made safe to pickle."""

    def __init__(self, exc: BaseException):
        try:
            pickle.loads(pickle.dumps(exc))
            self.exception = exc
        except Exception:
            self.exception = RuntimeError(f"{type(exc).__name__}: {exc}")


def _produce_into(make_batches, channel, parent_end, depth: int):
    # The child's copy of the parent's end: closed, so the parent's death ends our sends.
    parent_end.close()
    try:
        credits = depth
        for batch in make_batches():
            channel.send(batch)
            credits -= 1
            while credits == 0:
                # Wait until the parent has taken a batch: at most `depth` wait ahead.
                channel.recv_bytes()
                credits += 1
        channel.send(_END)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        return  # the parent stopped listening: it was cancelled, failed or killed
    except BaseException as exc:
        channel.send(_Failed(exc))
    finally:
        channel.close()


#: Validator processes started and not yet reaped (the tests check none outlives a run).
LIVE_VALIDATORS: set[int] = set()


class ProcessPrefetch:
    """Runs a batch generator in a forked child process. The child inherits the open file and
    the reader exactly where the parent left them (the parent never reads them again) and
    touches no database. The parent returns a credit for every batch it takes, so at most
    `depth` batches wait ahead, as with ThreadPrefetch; exceptions come back in order too.

    A bare fork, not multiprocessing.Process: django-q2's workers are daemonic processes, which
    multiprocessing forbids to have children, and making them non-daemonic would leave them
    behind when the cluster stops."""

    def __init__(self, make_batches: Callable[[], Iterator], depth: int = 2):
        self._channel, child_end = multiprocessing.Pipe(duplex=True)
        parent = os.getpid()
        # The child's garbage collector would walk every object it inherits (all of Django's),
        # and, touching them, copy their pages: frozen, it leaves them alone. The parent thaws
        # its own objects at once, so its collection goes on as before.
        gc.freeze()
        try:
            pid = os.fork()
        finally:
            if os.getpid() == parent:  # also when the fork failed
                gc.unfreeze()
        if pid == 0:  # the validator
            code = 1
            try:
                # The parent's handlers (a django-q2 worker's, say) are not ours: a stop
                # signal ends the validator.
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _produce_into(make_batches, child_end, self._channel, depth)
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no Django teardown: they are the parent's
        child_end.close()
        self._pid = pid
        LIVE_VALIDATORS.add(pid)

    def __iter__(self):
        while True:
            try:
                item = self._channel.recv()
            except EOFError:
                raise RuntimeError("The validation process stopped unexpectedly.") from None
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exception
            with contextlib.suppress(BrokenPipeError):  # the child has sent its last batch
                self._channel.send_bytes(b"+")
            yield item

    def close(self):
        self._channel.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGTERM)
        os.waitpid(self._pid, 0)
        LIVE_VALIDATORS.discard(self._pid)


def process_available() -> bool:
    """A forked validator needs fork (POSIX)."""
    return hasattr(os, "fork")


def prefetched(make_batches: Callable[[], Iterator], mode: str):
    """The batches of `make_batches()`, validated ahead per `mode`; a context manager that
    stops the thread or the process however the consumer ends."""
    if mode == PROCESS and not process_available():
        logger.warning("Validating in a thread: this process cannot fork a validator.")
        mode = THREAD
    if mode == PROCESS:
        return contextlib.closing(ProcessPrefetch(make_batches))
    if mode == THREAD:
        return contextlib.closing(ThreadPrefetch(make_batches))
    return contextlib.nullcontext(make_batches())
