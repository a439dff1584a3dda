import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

pytestmark = pytest.mark.django_db


def _status() -> str:
    out = io.StringIO()
    call_command("status", stdout=out)
    return out.getvalue().strip()


def _enqueue(task_broker, *, waited: timedelta) -> None:
    # What async_task puts on the queue, with the enqueue time set back.
    task = {"id": f"t{waited.seconds}", "name": "waiting", "func": "math.floor", "args": (1.5,)}
    task["kwargs"] = {}
    task["started"] = timezone.now() - waited
    task_broker.enqueue(SignedPackage.dumps(task))


def test_status_prints_readiness_and_an_empty_queue():
    line = _status()
    assert line == (
        "status ready=yes database=ok broker=ok storage=ok migrations=ok "
        "queue_depth=0 oldest_task_age_s=none"
    )


def test_status_counts_waiting_tasks_and_the_age_of_the_oldest():
    task_broker = get_broker()
    _enqueue(task_broker, waited=timedelta(seconds=90))
    _enqueue(task_broker, waited=timedelta(seconds=5))
    line = _status()
    assert "queue_depth=2" in line
    age = int(re.search(r"oldest_task_age_s=(\d+)", line).group(1))
    assert 90 <= age < 120


def test_status_fails_with_the_reason_when_not_ready(backups_storage):
    backups_storage(writable=False)
    with pytest.raises(CommandError, match="ready=no .*storage=unavailable"):
        _status()


def test_status_names_no_organisation(tenants):
    assert "owner-org" not in _status()
