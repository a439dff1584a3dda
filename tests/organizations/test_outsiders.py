"""Every public selector and service of backups, integrity and organisations that takes an actor
(`actor=` or `user=`) refuses an outsider: a member (here an admin) of another organisation.

The test walks the modules, so a selector or service added later with an actor and no case
here fails it.
"""

import importlib
import inspect
import pkgutil

import pytest
from django.core.exceptions import PermissionDenied

from backups.models import BackupExecution, RestoreExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from integrity.models import DataIntegrityReport
from organizations.models import Organization, Profile
from tests.factories import PropertyFactory

pytestmark = pytest.mark.django_db

PACKAGES = ["backups", "integrity", "organizations"]


def _modules():
    """Each app's selectors and services, modules or packages."""
    for package in PACKAGES:
        for kind in ("selectors", "services"):
            try:
                module = importlib.import_module(f"{package}.{kind}")
            except ModuleNotFoundError:
                continue
            yield module
            for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
                yield importlib.import_module(f"{module.__name__}.{info.name}")


def _functions_taking_an_actor():
    found = set()
    for module in _modules():
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            parameters = inspect.signature(function).parameters
            if "actor" in parameters or "user" in parameters:
                found.add(f"{module.__name__}.{name}")
    return found


@pytest.fixture
def owner_rows(tenants):
    PropertyFactory(project__organization=tenants.owner_org)
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    report = DataIntegrityReport.objects.create(organization=tenants.owner_org)
    return {"backup": backup, "report": report}


def _refused(call, *errors):
    with pytest.raises(errors or (PermissionDenied, BackupRefused)):
        call()


def _backup_execution_list(t, rows):
    from backups.selectors import backup_execution_list

    assert not backup_execution_list(user=t.outsider).filter(organization=t.owner_org).exists()


def _restore_execution_list(t, rows):
    from backups.selectors import restore_execution_list

    RestoreExecution.objects.create(organization=t.owner_org, backup=rows["backup"])
    assert not restore_execution_list(user=t.outsider).filter(organization=t.owner_org).exists()


def _backup_create(t, rows):
    before = BackupExecution.objects.count()
    _refused(lambda: backup_create(organization=t.owner_org, actor=t.outsider))
    assert BackupExecution.objects.count() == before


def _require_backup_permission(t, rows):
    from backups.services.permissions import require_backup_permission

    _refused(lambda: require_backup_permission(t.outsider, t.owner_org, allow_cross_org=True))


def _backup_restore(t, rows):
    from backups.services.restore import backup_restore

    _refused(
        lambda: backup_restore(
            backup=rows["backup"], organization=t.owner_org, actor=t.outsider, dry_run=True
        )
    )
    assert RestoreExecution.objects.get().status == RestoreExecution.Status.REFUSED


def _restore_queue(t, rows):
    from backups.services.queued import restore_queue

    _refused(
        lambda: restore_queue(
            organization=t.owner_org, actor=t.outsider, backup=rows["backup"], dry_run=True
        )
    )
    assert not RestoreExecution.objects.exists()


def _restore_confirm(t, rows):
    from backups.services.queued import restore_confirm, restore_execute, restore_queue

    plan = restore_queue(
        organization=t.owner_org, actor=t.manager, backup=rows["backup"], dry_run=True
    )
    restore_execute(restore=plan)
    _refused(lambda: restore_confirm(plan=plan, actor=t.outsider))
    assert not RestoreExecution.objects.filter(dry_run=False).exists()


def _backup_verify(t, rows):
    from backups.services.verify import backup_verify

    _refused(lambda: backup_verify(backup=rows["backup"], actor=t.outsider))
    rows["backup"].refresh_from_db()
    assert rows["backup"].verified_at is None


def _backup_config_save(t, rows):
    from backups.models import BackupConfig
    from backups.services.schedules import backup_config_save

    _refused(
        lambda: backup_config_save(config=BackupConfig(organization=t.owner_org), actor=t.outsider)
    )
    assert not BackupConfig.objects.exists()


def _backup_config_delete(t, rows):
    from backups.models import BackupConfig
    from backups.services.schedules import backup_config_delete, backup_config_save

    config = backup_config_save(config=BackupConfig(organization=t.owner_org), actor=t.admin)
    _refused(lambda: backup_config_delete(config=config, actor=t.outsider))
    assert BackupConfig.objects.filter(pk=config.pk).exists()


def _report_get(t, rows):
    from integrity.selectors import report_get

    _refused(
        lambda: report_get(user=t.outsider, report_id=rows["report"].pk),
        DataIntegrityReport.DoesNotExist,
    )


def _dashboard_rows(t, rows):
    from integrity.selectors import dashboard_rows

    assert [row["organization"] for row in dashboard_rows(user=t.outsider)] == [t.other_org]


def _integrity_check_run(t, rows):
    from integrity.services.reports import integrity_check_run

    before = DataIntegrityReport.objects.count()
    _refused(lambda: integrity_check_run(organization=t.owner_org, actor=t.outsider))
    assert DataIntegrityReport.objects.count() == before


def _integrity_report_create(t, rows):
    from integrity.services.reports import integrity_report_create

    before = DataIntegrityReport.objects.count()
    _refused(lambda: integrity_report_create(organization=t.owner_org, actor=t.outsider))
    assert DataIntegrityReport.objects.count() == before


def _member_create(t, rows):
    from organizations.services import member_create

    _refused(
        lambda: member_create(
            organization=t.owner_org,
            username="planted",
            password="x-Long-enough-1",
            role="admin",
            actor=t.outsider,
        )
    )
    assert not Profile.objects.filter(user__username="planted").exists()


def _organization_create(t, rows):
    from organizations.services import organization_create

    _refused(
        lambda: organization_create(
            organization=Organization(name="Mine", slug="mine"), actor=t.outsider
        )
    )
    assert not Organization.objects.filter(slug="mine").exists()


def _organization_delete(t, rows):
    from organizations.services import organization_delete

    empty = Organization.objects.create(name="Empty", slug="empty")
    _refused(lambda: organization_delete(organization=empty, actor=t.outsider))
    assert Organization.objects.filter(pk=empty.pk).exists()


def _runs_fail_stopped(t, rows):
    from backups.services.runs import runs_fail_stopped

    stopped = RestoreExecution.objects.create(organization=t.owner_org, backup=rows["backup"])
    assert runs_fail_stopped(actor=t.outsider) == 0
    stopped.refresh_from_db()
    assert stopped.status == RestoreExecution.Status.RUNNING


def _require_restorer(t, rows):
    from backups.services.restore import require_restorer

    _refused(lambda: require_restorer(t.outsider, t.owner_org))


def _restore_apply(t, rows):
    from backups.engines import engine_for
    from backups.services.restore import open_checked, restore_apply

    restore = RestoreExecution.objects.create(backup=rows["backup"], organization=t.owner_org)
    reader = open_checked(rows["backup"])
    try:
        _refused(
            lambda: restore_apply(
                restore, reader=lambda: reader, specs=None, engine=engine_for(), actor=t.outsider
            )
        )
    finally:
        reader.close()
    assert restore.counts == {}


CASES = {
    "backups.services.restore.require_restorer": _require_restorer,
    "backups.services.restore.restore_apply": _restore_apply,
    "backups.selectors.backup_execution_list": _backup_execution_list,
    "backups.selectors.restore_execution_list": _restore_execution_list,
    "backups.services.backup.backup_create": _backup_create,
    "backups.services.permissions.require_backup_permission": _require_backup_permission,
    "backups.services.restore.backup_restore": _backup_restore,
    "backups.services.queued.restore_queue": _restore_queue,
    "backups.services.queued.restore_confirm": _restore_confirm,
    "backups.services.verify.backup_verify": _backup_verify,
    "backups.services.runs.runs_fail_stopped": _runs_fail_stopped,
    "backups.services.schedules.backup_config_save": _backup_config_save,
    "backups.services.schedules.backup_config_delete": _backup_config_delete,
    "integrity.selectors.report_get": _report_get,
    "integrity.selectors.dashboard_rows": _dashboard_rows,
    "integrity.services.reports.integrity_check_run": _integrity_check_run,
    "integrity.services.reports.integrity_report_create": _integrity_report_create,
    "organizations.services.member_create": _member_create,
    "organizations.services.organization_create": _organization_create,
    "organizations.services.organization_delete": _organization_delete,
}


def test_every_selector_and_service_with_an_actor_has_an_outsider_case():
    assert _functions_taking_an_actor() == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_outsider_is_refused(name, tenants, owner_rows):
    CASES[name](tenants, owner_rows)
