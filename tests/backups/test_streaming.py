"""Backups and restores in bounded chunks, set-based: the same bytes and changes as the ORM
engine, chunk after chunk, with no statement per row (SqliteEngine on SQLite, PostgresEngine on
PostgreSQL)."""

import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backups.archive import TableDigest, table_specs
from backups.engines import engine_for
from backups.engines import sqlite as sqlite_engine
from backups.engines.orm import OrmEngine
from backups.engines.sqlite import SqliteEngine
from backups.models import BackupExecution, RestoreExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.restore import backup_restore
from backups.services.verify import backup_verify
from properties.models import Property
from tests.factories import PropertyFactory

from .helpers import org_history, org_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite engine; PostgreSQL's COPY path is compared in test_services")


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of two rows, so every table of the estate takes several."""
    monkeypatch.setattr(sqlite_engine, "CHUNK", 2)


def _backup(tenants):
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    assert backup.status == BackupExecution.Status.COMPLETED, backup.error_message
    return backup


def _tricky_values(estate):
    estate.analysis.results = {"b": [1.5, None, 'é\n"x"'], "aa": {"z": 1e-7}, "a": True, "日": 1}
    estate.analysis.save()
    estate.project.description = "tab\there, back\\slash, new\nline, café \x01 \x0b"
    estate.project.save()


def test_sqlite_and_orm_engines_write_the_same_bytes(on_sqlite, small_chunks, tenants, estate):
    _tricky_values(estate)
    for spec in table_specs():
        streamed, serialised = io.BytesIO(), io.BytesIO()
        streamed_digest, serialised_digest = TableDigest(), TableDigest()
        SqliteEngine(connection).dump_table(spec, tenants.owner_org.pk, streamed, streamed_digest)
        OrmEngine(connection).dump_table(spec, tenants.owner_org.pk, serialised, serialised_digest)
        assert streamed.getvalue() == serialised.getvalue(), spec.name
        assert streamed.getvalue()
        assert (streamed_digest.count, streamed_digest.hexdigest) == (
            serialised_digest.count,
            serialised_digest.hexdigest,
        )


def test_restore_in_small_chunks_puts_back_every_row_and_records_history(
    small_chunks, tenants, estate
):
    _tricky_values(estate)
    before = org_rows(tenants.owner_org)
    other_before = (org_rows(tenants.other_org), org_history(tenants.other_org))
    backup = _backup(tenants)
    changed = estate.properties[1]
    changed.basic_info = {**changed.basic_info, "address": "99 Changed Rd"}
    changed.save()
    deleted_pk = estate.properties[2].pk
    estate.properties[2].delete()
    added = PropertyFactory(project=estate.project)

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert org_rows(tenants.owner_org) == before
    assert (org_rows(tenants.other_org), org_history(tenants.other_org)) == other_before
    assert restore.counts["properties_property"] == {"inserted": 1, "updated": 1, "deleted": 1}
    own = Property.history.filter(history_change_reason=f"restore {restore.pk}")
    assert sorted(own.values_list("history_type", "id")) == sorted(
        [("+", deleted_pk), ("~", changed.pk), ("-", added.pk)]
    )
    assert backup_verify(backup=backup, actor=tenants.manager).verification_status == "passed"


def test_restore_runs_a_fixed_number_of_statements_whatever_the_row_count(tenants, estate):
    """Set-based: writing the property table and its history takes the same statements for
    a few rows as for more than a bulk ORM batch (500) of them."""

    def restore_statements(extra_rows: int) -> dict[str, int]:
        Property.objects.bulk_create(
            [
                PropertyFactory.build(project=estate.project, organization=tenants.owner_org)
                for _ in range(extra_rows)
            ]
        )
        backup = _backup(tenants)
        Property.objects.filter(organization=tenants.owner_org).delete()
        with CaptureQueriesContext(connection) as queries:
            backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)
        writes = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM) "?(properties_\w+?)"?[\s(]')
        counts: dict[str, int] = {}
        for query in queries.captured_queries:
            match = writes.match(query["sql"])
            if match:
                key = f"{match.group(1)} {match.group(2)}"
                counts[key] = counts.get(key, 0) + 1
        return counts

    few = restore_statements(0)
    many = restore_statements(1200)

    assert few == many
    assert few
    assert max(few.values()) <= 4  # a history table: backed-up rows, then "-", "~", "+"


def test_a_row_whose_user_was_deleted_comes_back_without_them(
    small_chunks, tenants, estate, django_user_model
):
    creator = django_user_model.objects.create(username="gone-since")
    kept = PropertyFactory(project=estate.project, created_by=creator)
    backup = _backup(tenants)
    kept_pk = kept.pk
    Property.objects.filter(pk=kept_pk).delete()
    creator.delete()

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert restore.status == RestoreExecution.Status.COMPLETED
    assert Property.objects.get(pk=kept_pk).created_by_id is None
    assert restore.counts["properties_property"]["inserted"] == 1
    again = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)
    assert again.counts["properties_property"] == {"inserted": 0, "updated": 0, "deleted": 0}


def test_the_engine_for_each_database_streams(tenants):
    engine = engine_for(connection)
    assert (
        type(engine).__name__
        == {"sqlite": "SqliteEngine", "postgresql": "PostgresEngine"}[connection.vendor]
    )


def test_an_outsider_cannot_restore_or_read_the_organisation(tenants, estate):
    backup = _backup(tenants)
    Property.objects.filter(pk=estate.properties[0].pk).update(external_id="changed")

    with pytest.raises(BackupRefused):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.outsider)
    with pytest.raises(BackupRefused):
        backup_restore(backup=backup, organization=tenants.other_org, actor=tenants.outsider)

    assert Property.objects.get(pk=estate.properties[0].pk).external_id == "changed"
