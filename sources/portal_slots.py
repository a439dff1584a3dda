"""At most one request in flight per portal host, across every process and cluster.

A thread lock orders this process's own threads; then a lock the other processes see too:
a Redis lock when REDIS_URL is set (the deployment's clusters share it), else a PostgreSQL
advisory lock on a connection of this process's own (closed with the process, so a killed
worker never leaves a portal locked), else, on SQLite, an exclusive file lock (SQLite
deployments run on one machine). The forked validator of a large run makes the requests, so
none of these uses Django's connection.
"""

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from urllib.parse import urlsplit

from django.conf import settings

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()
_PG_CONNECTIONS: dict[int, object] = {}


def portal_host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _thread_lock(host: str) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(host, threading.Lock())


def _lock_key(host: str) -> int:
    # A signed 64-bit key, as pg_advisory_lock takes.
    digest = hashlib.sha256(f"sources-portal:{host}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _pg_connection():
    """This process's (this fork's) own connection for advisory locks."""
    import psycopg

    pid = os.getpid()
    connection = _PG_CONNECTIONS.get(pid)
    if connection is None or connection.closed:
        db = settings.DATABASES["default"]
        connection = psycopg.connect(
            dbname=db["NAME"],
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            autocommit=True,
        )
        _PG_CONNECTIONS[pid] = connection
    return connection


class _ProcessSlot:
    """The cross-process half of a portal's slot, by the backend the settings choose."""

    def __init__(self, host: str):
        self.host = host
        self._release = None

    def acquire(self, *, blocking: bool = True) -> bool:
        if settings.REDIS_URL:
            return self._acquire_redis(blocking)
        if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            return self._acquire_advisory(blocking)
        return self._acquire_file(blocking)

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def _acquire_redis(self, blocking: bool) -> bool:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        # Expires on its own should the holder die: a request's longest legitimate wait.
        ttl = settings.SYNC_CONNECT_TIMEOUT + settings.SYNC_READ_TIMEOUT + 30
        lock = client.lock(f"sources:portal:{self.host}", timeout=ttl)
        if not lock.acquire(blocking=blocking, blocking_timeout=ttl if blocking else None):
            client.close()
            return False

        def release():
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
            client.close()

        self._release = release
        return True

    def _acquire_advisory(self, blocking: bool) -> bool:
        connection, key = _pg_connection(), _lock_key(self.host)
        if blocking:
            connection.execute("SELECT pg_advisory_lock(%s)", [key])
        elif not connection.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
            return False
        self._release = lambda: connection.execute("SELECT pg_advisory_unlock(%s)", [key])
        return True

    def _acquire_file(self, blocking: bool) -> bool:
        name = hashlib.sha256(self.host.encode()).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), f"sources-portal-{name}.lock")
        handle = open(path, "a")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._release = handle.close  # closing the file releases the lock
        return True


@contextlib.contextmanager
def portal_slot(url: str):
    """Holds the portal's only request slot (waiting for it) while the body runs."""
    host = portal_host(url)
    with _thread_lock(host):
        slot = _ProcessSlot(host)
        slot.acquire()
        try:
            yield
        finally:
            slot.release()


def portal_slot_free(url: str) -> bool:
    """Whether no process holds the portal's slot now (taken and given back at once)."""
    slot = _ProcessSlot(portal_host(url))
    if not slot.acquire(blocking=False):
        return False
    slot.release()
    return True


def portal_slots_close() -> None:
    """Closes this process's advisory-lock connection (a test database must be droppable)."""
    connection = _PG_CONNECTIONS.pop(os.getpid(), None)
    if connection is not None:
        connection.close()
