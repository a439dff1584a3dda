"""Every history row says why it was written, as a short sentence.

Imports, restores, syncs and undos name themselves (`import 12`, `restore 3`, `sync 5`,
`undo import 12`); an admin page names the page's verb (`edited in admin`). A write that names
no reason (a cascade of an admin delete, a service called from a shell) gets one from where it
happened, filled in as simple-history creates the row (`pre_create_historical_record`), so no
history row is ever written without one.

Rows written before reasons were kept (their reason is NULL) are not rewritten: nobody knows
now why they were written, and an audit log is not edited after the fact. The history pages show
them as `NOT_RECORDED`.
"""

from simple_history.models import HistoricalRecords

IN_ADMIN = {"+": "added in admin", "~": "edited in admin", "-": "deleted in admin"}
ELSEWHERE = {
    "+": "added by a command or task",
    "~": "changed by a command or task",
    "-": "deleted by a command or task",
}
REVERTED = "reverted in admin to the version of {date}"
#: What the history pages show for a row written before reasons were kept.
NOT_RECORDED = "not recorded (written before reasons were kept)"


def default_change_reason(history_type: str) -> str:
    """The reason of a write that named none: an admin page's, or a command's or task's."""
    in_request = getattr(HistoricalRecords.context, "request", None) is not None
    return (IN_ADMIN if in_request else ELSEWHERE).get(history_type, "changed")


def fill_change_reason(history_instance) -> None:
    if not history_instance.history_change_reason:
        history_instance.history_change_reason = default_change_reason(
            history_instance.history_type
        )
