"""What a property value may hold, so that every database can store it and no parser spends
unbounded time on it: the limits live in settings (`config/settings.py`, listed in
`docs/security.md`) and are read here, where they are used.

Used by the import rules (so a preview counts such a row as rejected) and by the property
JSON fields' form field (so the admin form answers in words instead of a server error).
"""

import json
import math
import zipfile

from django import forms
from django.conf import settings
from django.db import models
from django.forms.fields import InvalidJSONInput, JSONString


def _limit(name: str) -> int:
    return getattr(settings, name)


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored in a PostgreSQL text or JSON column, or None."""
    if "\x00" in text:
        return "holds a NUL character, which cannot be stored"
    # Run on every cell of an import: ASCII text (most cells) cannot hold a surrogate, and
    # isascii() is far cheaper than encoding a copy.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone surrogate (broken Unicode), which cannot be stored"
    if len(text) > settings.INPUT_MAX_FIELD_LENGTH:
        limit = _limit("INPUT_MAX_FIELD_LENGTH")
        return f"is longer than INPUT_MAX_FIELD_LENGTH ({limit} characters)"
    return None


def storable_text(text: str) -> str:
    """`text` with what cannot be stored (a NUL, a lone surrogate) shown as U+FFFD, cut to
    INPUT_MAX_FIELD_LENGTH: how a rejected value is kept in the rejected-rows report."""
    text = text[: _limit("INPUT_MAX_FIELD_LENGTH")].replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    return text


class OverlongNumber(str):
    """A number with more digits than INPUT_MAX_NUMBER_DIGITS, kept as the text it was
    written as (a JSON file's parser makes it one instead of converting it)."""


def number_problem(number) -> str | None:
    if isinstance(number, OverlongNumber):
        digits = _limit("INPUT_MAX_NUMBER_DIGITS")
        return f"holds a number longer than INPUT_MAX_NUMBER_DIGITS ({digits} digits)"
    if isinstance(number, float) and not math.isfinite(number):
        return f"holds {number}, which is not a finite number"
    if isinstance(number, int) and not isinstance(number, bool):
        digits = _limit("INPUT_MAX_NUMBER_DIGITS")
        # Compared by size first: str() of a huge int is itself the slow part.
        if number.bit_length() > digits * 3.33 + 4 or len(str(abs(number))) > digits:
            return f"holds a number longer than INPUT_MAX_NUMBER_DIGITS ({digits} digits)"
    return None


def json_value_problem(value) -> str | None:
    """Why a JSON value cannot be stored, or None: text or keys with a NUL or a lone
    surrogate, non-finite or overlong numbers, nesting deeper than INPUT_MAX_JSON_DEPTH.
    Walked without recursion, so depth itself cannot exhaust the stack."""
    max_depth = _limit("INPUT_MAX_JSON_DEPTH")
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                return f"is nested deeper than INPUT_MAX_JSON_DEPTH ({max_depth} levels)"
            if isinstance(item, dict):
                for key, child in item.items():
                    problem = text_problem(str(key))
                    if problem:
                        return f"has a key that {problem}"
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, (int, float)):
            problem = number_problem(item)
            if problem:
                return problem
    return None


def zip_member_problem(
    archive: zipfile.ZipFile, *, bytes_limit: str, ratio_limit: str
) -> tuple[str, str] | None:
    """(member name, why) for the first member of `archive` whose declared size or compression
    ratio passes the settings named (a zip bomb), or None; read from the zip's directory, so
    nothing is decompressed. Ratios count only for members over 1 MB."""
    max_bytes, max_ratio = _limit(bytes_limit), _limit(ratio_limit)
    for info in archive.infolist():
        if info.file_size > max_bytes:
            return info.filename, (
                f"would expand to {info.file_size} bytes, more than {bytes_limit} ({max_bytes})"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > max_ratio:
            return info.filename, (
                f"expands {ratio:.0f} times, more than {ratio_limit} ({max_ratio})"
            )
    return None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON can store")


class StorableJSONFormField(forms.JSONField):
    """A JSON value as typed into a form: anything that cannot be stored is a field error in
    words (NaN, 1e400, 5,000-digit numbers, 5,000-deep nesting, NUL, lone surrogates), never
    a server error. Every tenant admin's plain JSON fields use it."""

    default_error_messages = {"invalid": "Enter valid JSON: %(reason)s."}

    def bound_data(self, data, initial):
        # Redisplaying a refused value must not parse it again with the stock decoder, which
        # raises (not JSONDecodeError) on a 5,000-digit number or deep nesting.
        if self.disabled:
            return initial
        if data is None:
            return None
        return InvalidJSONInput(data)

    def to_python(self, value):
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        limit = _limit("INPUT_MAX_JSON_ITEM_BYTES")
        if len(value) > limit:
            raise forms.ValidationError(
                f"The value is longer than INPUT_MAX_JSON_ITEM_BYTES ({limit} bytes).",
                code="invalid",
            )
        try:
            converted = json.loads(
                value,
                cls=self.decoder,
                parse_constant=_refuse_constant,
                parse_float=_finite,
                parse_int=_bounded_int,
            )
        except (ValueError, RecursionError) as exc:
            reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"reason": reason[:200]}
            ) from None
        problem = json_value_problem(converted)
        if problem:
            raise forms.ValidationError(f"The value {problem}.", code="invalid")
        return JSONString(converted) if isinstance(converted, str) else converted


class PropertyJSONFormField(StorableJSONFormField):
    """A property's JSON attribute group: storable, and an object."""

    def to_python(self, value):
        converted = super().to_python(value)
        if (
            isinstance(value, str)
            and value not in self.empty_values
            and not isinstance(converted, dict)
        ):
            raise forms.ValidationError(
                "Enter a JSON object ({...}), not a list or a single value.", code="invalid"
            )
        return converted


def _bounded_int(text: str) -> int:
    digits = _limit("INPUT_MAX_NUMBER_DIGITS")
    if len(text.lstrip("-")) > digits:
        raise ValueError(f"a number is longer than INPUT_MAX_NUMBER_DIGITS ({digits} digits)")
    return int(text)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]} is too large to store")
    return number


class PropertyJSONField(models.JSONField):
    """A JSON attribute group of a property: an object whose values every database can
    store. Deconstructs as Django's JSONField (no migration: only validation differs)."""

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": PropertyJSONFormField, **kwargs})

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        problem = json_value_problem(value)
        if problem:
            raise forms.ValidationError(f"The value {problem}.", code="invalid")

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
