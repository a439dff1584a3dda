"""Validating ahead of the writer: the next batches are read and validated while the current
one is written, in a thread or in a forked process.

The rules are pure functions, so validation needs no database and can run anywhere. A thread
overlaps it with the database's share of the work only: the writer's Python and the
validation's Python still take turns on the GIL. A forked process runs it on another core; the
batches come back pickled through a pipe, in the compact form of `pipeline.core.Chunk`.
Large files take the process (see runs.import_job_execute); forking is avoided in a process
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
#: The GIL switch interval while a validation thread runs (see ThreadPrefetch).
THREAD_SWITCH_INTERVAL = 0.0005


class ThreadPrefetch:
    """Runs a chunk generator in a thread, at most `depth` chunks ahead; its exceptions are
    raised here, in order, after the chunks before them."""

    def __init__(self, make_chunks: Callable[[], Iterator], depth: int = 2):
        self._chunks = make_chunks()
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # The writer waits on the database a dozen times a batch; with the default 5 ms switch
        # interval it then waits again for the validation thread to hand the GIL back. 0.5 ms
        # made a 50,000-row import about 14% faster (bench_imports_large.py).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(THREAD_SWITCH_INTERVAL)
        self._thread = threading.Thread(target=self._produce, name="import-reader", daemon=True)
        self._thread.start()

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
            for chunk in self._chunks:
                if not self._put(chunk):
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
        self._thread.join()
        sys.setswitchinterval(self._switch_interval)


class _Failed:
    """An exception of the validation process, made safe to pickle."""

    def __init__(self, exc: BaseException):
        try:
            pickle.loads(pickle.dumps(exc))
            self.exception = exc
        except Exception:
            self.exception = RuntimeError(f"{type(exc).__name__}: {exc}")


def _produce_into(make_chunks, channel, parent_end, depth: int):
    # The child's copy of the parent's end: closed, so the parent's death ends our sends.
    parent_end.close()
    try:
        credits = depth
        for chunk in make_chunks():
            channel.send(chunk)
            credits -= 1
            while credits == 0:
                # Wait until the parent has taken a chunk: at most `depth` wait ahead.
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
    """Runs a chunk generator in a forked child process. The child inherits the open file and
    the reader exactly where the parent left them (the parent never reads them again) and
    touches no database. The parent returns a credit for every chunk it takes, so at most
    `depth` chunks wait ahead, as with ThreadPrefetch; exceptions come back in order too.

    A bare fork, not multiprocessing.Process: django-q2's workers are daemonic processes, which
    multiprocessing forbids to have children, and making them non-daemonic would leave them
    behind when the cluster stops."""

    def __init__(self, make_chunks: Callable[[], Iterator], depth: int = 2):
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
                _produce_into(make_chunks, child_end, self._channel, depth)
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
            with contextlib.suppress(BrokenPipeError):  # the child has sent its last chunk
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


def prefetched(make_chunks: Callable[[], Iterator], mode: str):
    """The chunks of `make_chunks()`, validated ahead per `mode`; a context manager that
    stops the thread or the process however the consumer ends."""
    if mode == PROCESS and not process_available():
        logger.warning("Validating in a thread: this process cannot fork a validator.")
        mode = THREAD
    if mode == PROCESS:
        return contextlib.closing(ProcessPrefetch(make_chunks))
    if mode == THREAD:
        return contextlib.closing(ThreadPrefetch(make_chunks))
    return contextlib.nullcontext(make_chunks())
