"""The SQLite writer (executemany, history copied inside the database): the same properties and
history rows as the bulk ORM writer, every row it cannot store reported, its project only.

The shared cases (resume, cancel, concurrent writers, validator process) run it through the
`writer` fixture of test_large_imports.py; these are its own."""

import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from imports.models import ImportJob
from imports.pipeline import CopyWriter, NullWriter, OrmBulkWriter, SqliteWriter, writer_for
from imports.pipeline.rows import BatchRows, NewRow
from imports.pipeline.sqlite_writer import DELETED_MEANWHILE, STORED_MEANWHILE
from properties.models import Property
from tests.factories import ProjectFactory, PropertyFactory

from .conftest import csv_bytes, run_import, valid_row

Status = ImportJob.Status
# What a property and its history row say, apart from ids, the project and the moment of writing.
PROPERTY_FIELDS = (
    "external_id",
    "basic_info",
    "planning_controls",
    "financial_metrics",
    "spatial_attributes",
    "environmental_factors",
    "status",
    "organization_id",
    "created_by_id",
)
HISTORY_FIELDS = (*PROPERTY_FIELDS, "history_type", "history_user_id")


@pytest.fixture
def on_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only writer; runs in the SQLite pass")


def file_with_repeats_and_rejects() -> bytes:
    rows = [valid_row(n) for n in range(1, 9)]
    rows[2] = valid_row(3, postcode="31")  # rejected by the rules
    rows.append(valid_row(4, address="4 Other Street"))  # repeats row 5's id
    rows.append(valid_row(9, address="9 Ünicode Straße", coordinates='"-37.81,144.96"'))
    return csv_bytes(*rows)


def contents(project, jobs):
    """The project's properties and history rows as comparable tuples: each history row names
    its job by position, and says whether its timestamps are its property's."""
    job_of = {f"import {job.pk}": position for position, job in enumerate(jobs)}
    live = {prop.pk: prop for prop in Property.objects.filter(project=project)}
    properties = [
        tuple(getattr(prop, name) for name in PROPERTY_FIELDS)
        for prop in sorted(live.values(), key=lambda prop: prop.external_id)
    ]
    records = list(
        Property.history.filter(project_id=project.pk).order_by("external_id", "history_id")
    )
    latest = {record.id: record for record in records}
    history = [
        (
            *(getattr(record, name) for name in HISTORY_FIELDS),
            job_of[record.history_change_reason],
            (record.created_at, record.updated_at)
            == (live[record.id].created_at, live[record.id].updated_at)
            if latest[record.id] is record
            else record.created_at == live[record.id].created_at,
        )
        for record in records
    ]
    return properties, history


def import_twice(project, actor, batch_size):
    jobs = [
        run_import(project, file_with_repeats_and_rejects(), actor=actor, batch_size=batch_size)
    ]
    changed = csv_bytes(valid_row(1, value="900001"), valid_row(2), valid_row(20))
    jobs.append(
        run_import(project, changed, actor=actor, batch_size=batch_size, on_duplicate="update")
    )
    return jobs


@pytest.mark.parametrize("batch_size", [1, 4, 5000])
def test_properties_and_history_rows_are_those_the_orm_writer_writes(
    on_sqlite, tenants, settings, batch_size
):
    outcome = {}
    for kind in ("orm", "sqlite"):
        settings.IMPORT_WRITER = kind
        project = ProjectFactory(organization=tenants.owner_org)
        jobs = import_twice(project, tenants.manager, batch_size)
        outcome[kind] = (
            [(job.status, job.created_count, job.updated_count, job.skipped_count) for job in jobs],
            jobs[0].rejected_file.read(),
            contents(project, jobs),
        )
    assert outcome["sqlite"] == outcome["orm"]
    summary, _, (properties, history) = outcome["sqlite"]
    assert summary == [(Status.COMPLETED_WITH_ERRORS, 8, 0, 0), (Status.COMPLETED, 1, 1, 1)]
    assert len(properties) == 9
    kinds = [row[len(PROPERTY_FIELDS)] for row in history]
    assert (kinds.count("+"), kinds.count("~")) == (9, 1)
    assert {row[len(PROPERTY_FIELDS) + 1] for row in history} == {tenants.manager.pk}
    assert all(row[-1] for row in history)
    assert [row[-2] for row in history if row[len(PROPERTY_FIELDS)] == "~"] == [1]


def test_history_names_the_job_the_user_and_the_moment(on_sqlite, tenants, project):
    job = run_import(
        project, csv_bytes(valid_row(1), valid_row(2)), actor=tenants.manager, batch_size=1
    )
    assert isinstance(
        writer_for(project=project, dry_run=False, actor=None, change_reason=""), SqliteWriter
    )
    for prop in Property.objects.filter(project=project):
        record = prop.history.get()
        assert (record.history_type, record.history_user, record.history_change_reason) == (
            "+",
            tenants.manager,
            f"import {job.pk}",
        )
        assert job.started_at <= record.history_date <= job.finished_at
        assert (record.created_at, record.updated_at) == (prop.created_at, prop.updated_at)
        assert prop.created_by == tenants.manager


def test_on_duplicate_skip_update_and_error(on_sqlite, tenants, project):
    stored = PropertyFactory(project=project, external_id="P-0001")
    before = stored.basic_info
    skip = run_import(project, csv_bytes(valid_row(1), valid_row(2)))
    assert (skip.created_count, skip.skipped_count) == (1, 1)
    error = run_import(project, csv_bytes(valid_row(1), valid_row(3)), on_duplicate="error")
    assert (error.created_count, error.rejected_count) == (1, 1)
    assert f"already exists in this project (property {stored.pk})" in (
        error.rejected_file.read().decode("utf-8-sig")
    )
    stored.refresh_from_db()
    assert stored.basic_info == before
    update = run_import(
        project, csv_bytes(valid_row(1), valid_row(2), valid_row(4)), on_duplicate="update"
    )
    assert (update.created_count, update.updated_count, update.skipped_count) == (1, 1, 1)
    stored.refresh_from_db()
    assert stored.basic_info["address"] == "1 Chapel Street"
    assert stored.updated_at > stored.created_at
    latest = stored.history.order_by("-history_id").first()
    assert (latest.history_type, latest.history_change_reason) == ("~", f"import {update.pk}")
    assert latest.basic_info == stored.basic_info and latest.updated_at == stored.updated_at


def new_rows(*external_ids) -> BatchRows:
    groups = ('{"address":"1 Chapel St"}', "{}", '{"estimated_value":1}', "{}", "{}")
    return BatchRows(
        NewRow(n, [external_id], external_id, groups, SqliteWriter.prepare(external_id, groups))
        for n, external_id in enumerate(external_ids, start=2)
    )


def test_rows_stored_by_another_writer_meanwhile_are_reported_and_the_rest_stored(
    on_sqlite, tenants, project
):
    PropertyFactory(project=project, external_id="S-2")
    writer = SqliteWriter(project=project, actor=tenants.manager, change_reason="import 7")
    assert writer.create_new(new_rows("S-1", "S-2")) is False
    assert not Property.objects.filter(external_id="S-1").exists()
    failures = writer.create(new_rows("S-1", "S-2", "S-3"))
    assert [(row.external_id, reason) for row, reason in failures] == [("S-2", STORED_MEANWHILE)]
    created = Property.history.filter(history_change_reason="import 7")
    assert sorted(created.values_list("external_id", flat=True)) == ["S-1", "S-3"]
    assert {record.history_user for record in created} == {tenants.manager}


def test_an_update_of_a_property_deleted_meanwhile_is_reported(on_sqlite, tenants, project):
    kept, gone = (PropertyFactory(project=project, external_id=f"U-{n}") for n in (1, 2))
    writer = SqliteWriter(project=project, actor=None, change_reason="import 8")
    for prop in (kept, gone):
        prop.basic_info = {"address": "2 New Road"}
    Property.objects.filter(pk=gone.pk).delete()
    failures = writer.update([kept, gone])
    assert failures == [(gone, DELETED_MEANWHILE)]
    kept.refresh_from_db()
    assert kept.basic_info == {"address": "2 New Road"}
    assert list(
        Property.history.filter(history_change_reason="import 8").values_list("id", flat=True)
    ) == [kept.pk]


def test_the_writer_touches_no_property_outside_its_project(on_sqlite, tenants, project):
    outsider_property = PropertyFactory(
        project=ProjectFactory(organization=tenants.other_org), external_id="O-1"
    )
    before = outsider_property.basic_info
    writer = SqliteWriter(project=project, actor=tenants.manager, change_reason="import 9")
    outsider_property.basic_info = {"address": "taken over"}
    assert writer.update([outsider_property]) == [(outsider_property, DELETED_MEANWHILE)]
    outsider_property.refresh_from_db()
    assert outsider_property.basic_info == before
    assert not Property.history.filter(history_change_reason="import 9").exists()
    assert writer.create(new_rows("O-1")) == []  # the same id is free in this project
    created = Property.objects.get(project=project, external_id="O-1")
    assert created.organization_id == tenants.owner_org.pk


def test_an_outsider_cannot_import_into_the_project(on_sqlite, tenants, project, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(valid_row(1)))
    with pytest.raises(CommandError):
        call_command(
            "import_properties",
            str(source),
            "--project",
            str(project.pk),
            "--user",
            tenants.outsider.username,
            stdout=io.StringIO(),
        )
    assert not Property.objects.exists() and not Property.history.exists()
    call_command(
        "import_properties",
        str(source),
        "--project",
        str(project.pk),
        "--user",
        tenants.manager.username,
        stdout=io.StringIO(),
    )
    assert Property.objects.filter(project=project).count() == 1


def test_writer_for_picks_the_database_s_writer_and_refuses_a_foreign_one(tenants, settings):
    project = ProjectFactory(organization=tenants.owner_org)

    def chosen(kind, dry_run=False):
        settings.IMPORT_WRITER = kind
        return type(writer_for(project=project, dry_run=dry_run, actor=None, change_reason=""))

    native, foreign = ("sqlite", "copy") if connection.vendor == "sqlite" else ("copy", "sqlite")
    assert chosen("") is {"sqlite": SqliteWriter, "copy": CopyWriter}[native]
    assert chosen("orm") is OrmBulkWriter
    assert chosen(foreign, dry_run=True) is NullWriter
    with pytest.raises(ImproperlyConfigured, match=f"IMPORT_WRITER={foreign} runs on"):
        chosen(foreign)
    with pytest.raises(ImproperlyConfigured, match="must be one of orm, copy, sqlite"):
        chosen("fast")
