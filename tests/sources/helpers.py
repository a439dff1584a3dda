from properties.models import Property
from sources.models import DataSource
from sources.services import source_create, source_sync

from .portal import OVERRIDES, RESOURCE_ID


def ckan_source(*, actor, project, portal, **fields) -> DataSource:
    return source_create(
        actor=actor,
        project=project,
        kind=DataSource.Kind.CKAN_DATASTORE,
        url=portal.url,
        resource_id=RESOURCE_ID,
        name="VIC valuations",
        column_overrides=fields.pop("column_overrides", OVERRIDES),
        **fields,
    )


def file_source(*, actor, project, portal, file_name: str, name: str) -> DataSource:
    """A source reading the portal's published file `file_name`."""
    return source_create(
        actor=actor,
        project=project,
        kind=DataSource.Kind.FILE_URL,
        url=f"{portal.url}/files/{file_name}",
        name=name,
    )


def sync(source, actor=None, **kwargs):
    """A sync whose retry waits are recorded instead of slept."""
    waits = []
    run = source_sync(source=source, actor=actor, sleep=waits.append, **kwargs)
    run.refresh_from_db()
    source.refresh_from_db()
    run.waits = waits
    return run


def history_reasons(project) -> list:
    return list(
        Property.history.filter(project=project)
        .order_by("history_id")
        .values_list("history_change_reason", flat=True)
    )


def counts(run) -> dict:
    names = ("fetched", "created", "updated", "unchanged", "rejected", "vanished")
    return {name: getattr(run, name) for name in names}
