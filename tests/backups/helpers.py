import io
import json
import zipfile

from properties.models import Project, Property, PropertyAnalysis


def org_rows(organization) -> dict:
    """Every column of the organisation's live rows, keyed by table and id."""
    rows = {}
    for model in (Project, Property, PropertyAnalysis):
        rows[model._meta.db_table] = {
            row["id"]: row for row in model.objects.filter(organization=organization).values()
        }
    return rows


def org_history(organization) -> dict:
    history = {}
    for model in (Project, Property, PropertyAnalysis):
        history_model = model.history.model
        history[history_model._meta.db_table] = {
            row["history_id"]: row
            for row in history_model.objects.filter(organization_id=organization.pk).values()
        }
    return history


def archive_members(backup) -> dict[str, bytes]:
    with backup.archive.storage.open(backup.archive.name, "rb") as stored:
        data = stored.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite_archive(backup, members: dict[str, bytes], *, record_sha256: bool) -> None:
    """Replaces the stored archive with `members`; with `record_sha256`, the tamperer also
    updates the recorded checksum, so only the manifest checks can catch it."""
    import hashlib

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    storage = backup.archive.storage
    storage.delete(backup.archive.name)
    storage.save(backup.archive.name, io.BytesIO(buffer.getvalue()))
    if record_sha256:
        backup.sha256 = hashlib.sha256(buffer.getvalue()).hexdigest()
        backup.save(update_fields=["sha256"])


def manifest_of(members: dict[str, bytes]) -> dict:
    return json.loads(members["manifest.json"])
