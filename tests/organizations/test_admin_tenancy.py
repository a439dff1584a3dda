"""Every admin page of every tenant model, for every role: another organisation's rows are absent.

The test walks the admin registry, so an admin added later without tenant scoping, or without a
row builder here, fails it.
"""

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from organizations.models import Organization, Profile
from organizations.tenancy import TenantScopedAdmin
from tests.factories import ProjectFactory, PropertyAnalysisFactory, PropertyFactory

pytestmark = pytest.mark.django_db

ROLES = ["admin", "manager", "member", "viewer"]


def _build_rows(organization, marker: str) -> dict:
    """One row of every tenant model for `organization`, keyed by model label."""
    from imports.models import ImportJob
    from integrity.models import DataIntegrityReport, IntegrityAlert

    project = ProjectFactory(organization=organization, name=f"{marker} project")
    prop = PropertyFactory(project=project, external_id=f"{marker}-property")
    analysis = PropertyAnalysisFactory(property=prop)
    report = DataIntegrityReport.objects.create(organization=organization)
    rows = {
        "organizations.organization": organization,
        "organizations.profile": Profile.objects.filter(organization=organization).first(),
        "properties.project": project,
        "properties.property": prop,
        "properties.propertyanalysis": analysis,
        "imports.importjob": ImportJob.objects.create(
            organization=organization, project=project, file_name=f"{marker}.csv"
        ),
        "integrity.dataintegrityreport": report,
        "integrity.integrityalert": IntegrityAlert.objects.create(
            organization=organization,
            kind=IntegrityAlert.Kind.values[0],
            condition=f"{marker}-condition",
            subject=f"{marker} alert",
            report=report,
        ),
    }
    rows.update(_backup_rows(organization, marker))
    rows.update(_source_rows(project, marker))
    return rows


def _source_rows(project, marker):
    from sources.models import DataSource, SyncRun

    source = DataSource.objects.create(
        project=project,
        name=f"{marker} source",
        kind=DataSource.Kind.FILE_URL,
        url="https://data.example.gov.au/valuations.csv",
    )
    run = SyncRun.objects.create(source=source, status=SyncRun.Status.COMPLETED)
    return {"sources.datasource": source, "sources.syncrun": run}


def _backup_rows(organization, marker):
    try:
        from backups.models import BackupConfig, BackupExecution
    except ImportError:
        return {}
    config = BackupConfig.objects.create(organization=organization)
    execution = BackupExecution.objects.create(
        organization=organization, config=config, status="completed"
    )
    rows = {"backups.backupconfig": config, "backups.backupexecution": execution}
    try:
        from backups.models import RestoreExecution
    except ImportError:
        return rows
    rows["backups.restoreexecution"] = RestoreExecution.objects.create(
        organization=organization, backup=execution
    )
    from backups.models import BackupDrill, RecoveryPoint

    rows["backups.recoverypoint"] = RecoveryPoint.objects.create(
        organization=organization, description=f"point {marker}", backup=execution
    )
    rows["backups.backupdrill"] = BackupDrill.objects.create(
        organization=organization, backup=execution, status="passed"
    )
    return rows


def _tenant_admins():
    return {
        model._meta.label_lower: model_admin
        for model, model_admin in admin.site._registry.items()
        if model is Organization
        or any(field.name == "organization" for field in model._meta.get_fields())
    }


def test_every_admin_of_a_tenant_model_is_tenant_scoped():
    unscoped = [
        label
        for label, model_admin in _tenant_admins().items()
        if not isinstance(model_admin, TenantScopedAdmin)
    ]
    assert unscoped == []


@pytest.fixture
def rows(tenants):
    return {
        "own": _build_rows(tenants.owner_org, "OWNROW"),
        "other": _build_rows(tenants.other_org, "OTHERROW"),
    }


def test_every_tenant_admin_has_rows_in_this_test(rows):
    assert set(_tenant_admins()) <= set(rows["other"])


def _url(name, *args):
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@pytest.mark.parametrize("role", ROLES)
def test_another_organisations_rows_are_absent_on_every_admin_page(client, tenants, rows, role):
    client.force_login(getattr(tenants, role))
    for label in _tenant_admins():
        app, model = label.split(".")
        other = rows["other"][label]
        own = rows["own"][label]
        changelist = client.get(reverse(f"admin:{app}_{model}_changelist"))
        if changelist.status_code == 200:
            assert f"/{app}/{model}/{other.pk}/change/" not in changelist.content.decode(), label
            assert f"/{app}/{model}/{own.pk}/change/" in changelist.content.decode(), label
        else:
            assert changelist.status_code == 403, label
        for view in ("change", "history", "delete"):
            url = _url(f"admin:{app}_{model}_{view}", other.pk)
            if url:
                assert client.get(url).status_code in (403, 404), (label, view)
