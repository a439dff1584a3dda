"""What retention must keep: a backup past its configuration's retention is still kept when a
restore could need it."""

from .models import BackupExecution, BackupType, RecoveryPoint, RestoreExecution


def backups_still_needed(organization, *, expired: set[int], keep_full: int = 1) -> set[int]:
    """Of the organisation's `expired` backup ids, those that must stay: the newest verified
    full backup, the newest `keep_full` completed full backups, every recovery point's backup,
    every backup a pending or running restore (or plan) reads, and every link of the chain
    of a backup that stays."""
    rows = list(
        BackupExecution.objects.filter(organization=organization)
        .order_by("-started_at", "-pk")
        .values("pk", "backup_type", "status", "verification_status", "baseline")
    )
    fulls = [
        row
        for row in rows
        if row["backup_type"] == BackupType.FULL
        and row["status"] == BackupExecution.Status.COMPLETED
    ]
    anchors = {row["pk"] for row in fulls[: max(keep_full, 1)]}
    verified = [row for row in fulls if row["verification_status"] == "passed"]
    if verified:
        anchors.add(verified[0]["pk"])
    anchors |= set(
        RecoveryPoint.objects.filter(organization=organization).values_list("backup_id", flat=True)
    )
    anchors |= set(
        RestoreExecution.objects.filter(
            organization=organization,
            status__in=[RestoreExecution.Status.PENDING, RestoreExecution.Status.RUNNING],
            backup__isnull=False,
        ).values_list("backup_id", flat=True)
    )
    parent_of = {
        row["pk"]: (row["baseline"] or {}).get("parent", {}).get("id")
        for row in rows
        if row["backup_type"] == BackupType.INCREMENTAL
    }
    staying = {row["pk"] for row in rows if row["pk"] not in expired} | anchors
    needed = set()
    for pk in staying:
        link = pk
        # Walks each chain down to its full backup; a loop cannot spin for ever.
        while link in parent_of and link not in needed and len(needed) <= len(rows):
            link = parent_of[link]
            if link is None:
                break
            needed.add(link)
    return (anchors | needed) & expired
