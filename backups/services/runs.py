"""Whether a running backup or restore still has a worker.

The worker holds a lock named after its execution row from the moment the row is created
until its outcome is saved. The lock belongs to the worker's PostgreSQL session (an advisory
lock) or, on SQLite, to an open file (`flock`), so PostgreSQL or the operating system frees it
when the worker dies, however it dies (kill -9, the task timeout, a lost machine). A row still
`running` whose lock is free therefore has no worker: `runs_fail_stopped` marks it failed.
"""

import fcntl
import os
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from organizations.access import Scope

from ..models import BackupExecution, RestoreExecution

WORKER_STOPPED = "worker stopped: the process running it ended before it finished"
#: High bits of the advisory lock key, one per kind of run.
_NAMESPACES = {BackupExecution: 0x0BAC, RestoreExecution: 0x0BAD}


def _key(execution) -> int:
    return (_NAMESPACES[type(execution)] << 48) | execution.pk


def _lock_path(execution) -> Path:
    folder = Path(settings.RUN_LOCK_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{type(execution)._meta.model_name}-{execution.pk}.lock"


class RunLock:
    """Held by the worker of one execution; `release()` once its outcome is saved."""

    def __init__(self, execution):
        self.execution = execution
        self._file = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s::bigint)", [_key(execution)])
        else:
            self._file = open(_lock_path(execution), "a")  # noqa: SIM115 (held for the run)
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        if self._file is not None:
            os.unlink(self._file.name)
            self._file.close()
            self._file = None
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s::bigint)", [_key(self.execution)])


def run_lock_held(execution) -> bool:
    """Whether some worker holds the execution's lock (this process included)."""
    if connection.vendor == "postgresql":
        key = _key(execution)
        with connection.cursor() as cursor:
            # pg_locks sees every session's locks, the caller's own too, without taking one.
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1 AND granted)",
                [key >> 32, key & 0xFFFFFFFF],
            )
            return cursor.fetchone()[0]
    try:
        with open(_lock_path(execution)) as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(probe, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def runs_fail_stopped(*, actor=None, organization=None) -> int:
    """Marks failed ("worker stopped") every running backup and restore the actor may see
    (of `organization` if given) whose worker's lock is free. Returns how many."""
    scope = Scope.of(actor)
    failed = 0
    for model in (BackupExecution, RestoreExecution):
        running = scope.filter(model.objects.filter(status=model.Status.RUNNING))
        if organization is not None:
            running = running.filter(organization=organization)
        for execution in running.only("pk"):
            if run_lock_held(execution):
                continue
            # Only if still running: a worker that finished meanwhile keeps its outcome.
            failed += model.objects.filter(pk=execution.pk, status=model.Status.RUNNING).update(
                status=model.Status.FAILED,
                error_message=WORKER_STOPPED,
                completed_at=timezone.now(),
            )
    return failed
