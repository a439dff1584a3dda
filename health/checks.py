"""Readiness: can this process serve requests and queue work right now?

Each check answers "ok" or a short reason; none reports data (no counts, no names), so the
answers may be shown to anyone, such as a load balancer.
"""

import datetime
import logging
import os

from django.core.files.storage import storages
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

logger = logging.getLogger(__name__)

# Once every migration is applied, only new code (a new process) can bring an unapplied one.
_migrations_applied = False


def database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def broker() -> str:
    from django_q.brokers import get_broker

    return "ok" if get_broker().ping() else "not answering"


def storage() -> str:
    """Every configured storage of backups and uploads answers (one cheap request each)."""
    for alias in ("default", "backups", "backups_replica"):
        try:
            target = storages[alias]
        except Exception:  # InvalidStorageError: the replica is optional
            continue
        location = getattr(target, "location", None)
        if isinstance(location, str) and os.path.isabs(location):
            # A local folder: it is created on first save, so it must exist or be creatable.
            os.makedirs(location, exist_ok=True)
            if not os.access(location, os.W_OK):
                return f"{alias} is not writable"
        else:
            target.exists("readyz-probe")
    return "ok"


def migrations() -> str:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return f"{len(plan)} unapplied"
        _migrations_applied = True
    return "ok"


CHECKS = {"database": database, "broker": broker, "storage": storage, "migrations": migrations}


def readiness() -> dict[str, str]:
    """The answer of every check; a check that raises is "unavailable" (details go to the log,
    not to the caller)."""
    answers = {}
    for name, check in CHECKS.items():
        try:
            answers[name] = check()
        except Exception:
            logger.warning("Readiness check %s failed", name, exc_info=True)
            answers[name] = "unavailable"
    return answers


def queue_state() -> tuple[int, datetime.timedelta | None]:
    """The number of tasks waiting in the broker and how long the oldest has waited."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    task_broker = get_broker()
    depth = task_broker.queue_size()
    oldest_payload = _oldest_payload(task_broker)
    if oldest_payload is None:
        return depth, None
    try:
        queued_at = SignedPackage.loads(oldest_payload)["started"]
    except Exception:  # a payload signed with another key, or not a task
        return depth, None
    return depth, max(timezone.now() - queued_at, datetime.timedelta(0))


def _oldest_payload(task_broker):
    from django_q.brokers.orm import ORM
    from django_q.brokers.redis_broker import Redis

    if isinstance(task_broker, ORM):
        row = (
            task_broker.get_connection()
            .filter(key=task_broker.list_key, lock__lte=timezone.now())
            .order_by("id")
            .first()
        )
        return row.payload if row else None
    if isinstance(task_broker, Redis):
        return task_broker.connection.lindex(task_broker.list_key, 0)
    return None
