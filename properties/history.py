"""History diffs that look inside the JSON attribute groups.

simple-history compares whole fields, so editing one key of `financial_metrics` would show as
"Financial metrics changed". The helpers here report each changed key on its own line:
`financial_metrics.estimated_value: 800000 → 850000`.
"""

from typing import Any

from django.db.models import JSONField
from simple_history.template_utils import HistoricalRecordContextHelper

_MISSING = object()
#: Fields whose change on every save says nothing a reader needs.
NOISE_FIELDS = {"updated_at"}


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """{"a": {"b": 1}} under prefix "g" → {"g.a.b": 1}; non-dict values are leaves."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def json_key_changes(field: str, old: Any, new: Any) -> list[dict[str, Any]]:
    """Per-key changes between two values of a JSON field, in key order."""
    old_flat, new_flat = flatten(old or {}, field), flatten(new or {}, field)
    changes = []
    for key in sorted(old_flat.keys() | new_flat.keys()):
        before, after = old_flat.get(key, _MISSING), new_flat.get(key, _MISSING)
        if before != after:
            changes.append({"field": key, "old": before, "new": after})
    return changes


#: Keys whose numbers are money: shown as the rest of the admin shows money ($1,250,000).
MONEY_KEYS = {"financial_metrics.estimated_value", "financial_metrics.last_sale_price"}


def display_value(value: Any, key: str = "") -> str:
    """A value of a change as the history pages show it ("—" for a key that was not there)."""
    if value is _MISSING:
        return "—"
    if value is None:
        return "null"
    if key in MONEY_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"
    return str(value)


class JSONKeyHistoryContextHelper(HistoricalRecordContextHelper):
    """Expands changes to JSON fields into one entry per changed key."""

    def context_for_delta_changes(self, delta):
        entries = []
        for change in delta.changes:
            if change.field in NOISE_FIELDS:
                continue
            field = self.model._meta.get_field(change.field)
            if isinstance(field, JSONField):
                for key_change in json_key_changes(change.field, change.old, change.new):
                    entries.append(
                        {
                            "field": key_change["field"],
                            "old": display_value(key_change["old"], key_change["field"]),
                            "new": display_value(key_change["new"], key_change["field"]),
                        }
                    )
            else:
                formatted = self.format_delta_change(change)
                entries.append(
                    {"field": formatted.field, "old": formatted.old, "new": formatted.new}
                )
        return entries
