"""What the import job and preview pages show of a job: its counts as a table and the file's
columns with where each went. Pure presentation, no queries."""

from django.utils.html import format_html, format_html_join

from properties.rules import STORED_AT

from .models import ImportJob

#: The job's counts, in the order the table shows them: (label, job field, preview total key).
COUNTS = (
    ("Rows", "total_rows", "total"),
    ("Created", "created_count", "new"),
    ("Updated", "updated_count", "update"),
    ("Skipped", "skipped_count", "skip"),
    ("Rejected", "rejected_count", "reject"),
    ("Kept with warnings", "warned_count", "warn"),
)


def job_counts(job: ImportJob) -> tuple[str, list[tuple[str, int]]]:
    """A caption and the (label, count) pairs: what the run wrote, or for a job that never
    ran (a preview) what its preview found."""
    if job.started_at is not None or not job.is_preview:
        caption = (
            "What the dry run found (nothing written)"
            if job.options.get("dry_run")
            else "What the import wrote"
        )
        return caption, [(label, getattr(job, field)) for label, field, _ in COUNTS]
    totals = (job.preview or {}).get("totals") or {}
    if totals:
        caption = "What the preview found (nothing written)"
        return caption, [(label, int(totals.get(key) or 0)) for label, _, key in COUNTS]
    return "Nothing read yet", []


def job_summary_table(job: ImportJob):
    caption, counts = job_counts(job)
    if not counts:
        return caption
    head = format_html_join("", "<th>{}</th>", ((label,) for label, _ in counts))
    cells = format_html_join("", "<td>{}</td>", ((f"{count:,}",) for _, count in counts))
    return format_html(
        '<table id="import-summary" class="import-summary"><caption>{}</caption>'
        "<thead><tr>{}</tr></thead><tbody><tr>{}</tr></tbody></table>",
        caption,
        head,
        cells,
    )


def column_rows(columns: dict) -> list[dict]:
    """The file's columns in file order, each with where it went (`group.key`) or None when
    it was ignored. A repeated header is read once, at its first place, like the reader."""
    mapped = dict(columns.get("mapped") or {})
    rows = []
    for header in columns.get("headers") or []:
        if not str(header).strip():
            continue
        name = next((key for key, mapped_header in mapped.items() if mapped_header == header), None)
        if name is not None:
            del mapped[name]
        rows.append({"header": header, "stored_at": STORED_AT.get(name) if name else None})
    return rows
