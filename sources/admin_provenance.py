"""Provenance on the property page: which source records fed the property, from which runs.

A read-only field (not an inline formset, which would make every property form post carry
its management data)."""

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .models import SourceRecord


def provenance_html(prop) -> str:
    """A small table of the property's source records, or a dash. The records are the
    property's own organisation's (the property page is already scoped)."""
    if prop is None or prop.pk is None:
        return "—"
    records = (
        SourceRecord.objects.filter(property=prop, organization_id=prop.organization_id)
        .select_related("source", "first_run", "changed_run", "vanished_run")
        .order_by("source__name", "key")
    )
    rows = [
        (
            record.source.name,
            record.key,
            _run_link(record.first_run),
            _run_link(record.changed_run),
            "yes"
            if record.vanished_run is None
            else format_html("vanished in {}", _run_link(record.vanished_run)),
            record.sha256[:12],
        )
        for record in records
    ]
    if not rows:
        return "—"
    header = mark_safe(  # noqa: S308 (constant markup)
        "<tr><th>source</th><th>key</th><th>first seen</th><th>last changed</th>"
        "<th>in the source</th><th>SHA-256</th></tr>"
    )
    body = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
    )
    return format_html('<table class="provenance">{}{}</table>', header, body)


def _run_link(run):
    if run is None:
        return "—"
    url = reverse("admin:sources_syncrun_change", args=[run.pk])
    return format_html('<a href="{}">sync {}</a> ({})', url, run.pk, run.created_at.date())
