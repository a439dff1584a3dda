"""What every tenant admin form does with input no database can take, so a hostile value is a
field error in words and the page that shows it again is no server error.

- JSON fields: Django's form field turns a 5,000-digit number or 5,000-deep nesting into an
  uncaught ValueError or RecursionError. The properties app, which owns what a stored value
  may hold (`properties/limits.py`), registers its form field here in its `ready()`; every
  plain `JSONField` of a `TenantScopedAdmin` form uses it.
- Autocomplete selects: redisplaying a refused id (`1\\x00`, 5,000 digits) made Django's
  widget look it up, which raised; only ids the key field can read are looked up.
"""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError

_json_form_field: list[type[forms.JSONField]] = []


def register_json_form_field(form_class: type[forms.JSONField]) -> None:
    """The form field plain JSON model fields get in tenant admin forms."""
    _json_form_field[:] = [form_class]


def json_form_field() -> type[forms.JSONField] | None:
    return _json_form_field[0] if _json_form_field else None


class StorableAutocompleteSelect(AutocompleteSelect):
    """An autocomplete select that shows a refused value as no choice instead of looking up
    an id its key field cannot read."""

    def optgroups(self, name, value, attr=None):
        key_field = self.field.target_field
        readable = []
        for choice in value:
            try:
                key_field.to_python(choice)
            except (ValidationError, ValueError, TypeError):
                continue
            readable.append(choice)
        return super().optgroups(name, readable, attr)
