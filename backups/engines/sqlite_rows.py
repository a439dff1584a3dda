"""Archive lines to SQLite's stored values and back, without the ORM.

The archive holds PostgreSQL's COPY text (see `archive`); SQLite stores what Django's SQLite
backend writes: timestamps as naive UTC text (`2026-01-31 04:05:06.000070`), JSON as text,
integers as integers. Converting between the two directly costs a fraction of building model
values (a datetime and a dict per value) on each side, which is what made the ORM path slow.
A JSON column is stored as the archive's (canonical, valid) text: equal values to every reader,
and re-encoded to the same canonical text by a backup.
"""

import json
import re

import orjson
from django.db import models

from ..archive import (
    NULL,
    ArchiveError,
    TableSpec,
    canonical_json,
    copy_escape,
    copy_unescape,
    value_decoder,
    value_encoder,
)

# Timestamps in the forms the two sides write; anything else takes the parsing path.
_ARCHIVE_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.(\d{1,6}))?\+00\Z")
_STORED_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.(\d{6}))?\Z")
_NEEDS_ESCAPE = re.compile(r"[\\\b\f\n\r\t\v]")


def _kind(field) -> str:
    internal = field.get_internal_type()
    if internal in ("JSONField", "DateTimeField"):
        return internal
    if internal in ("CharField", "TextField", "SlugField"):
        return "text"
    return "integer"


def _stored_datetime(text: str) -> str:
    match = _ARCHIVE_DATETIME.match(text)
    if match is None:
        from django.db import connection

        # Another offset or form: parsed (ValueError for a bad timestamp) and stored in UTC.
        return connection.ops.adapt_datetimefield_value(_parse_datetime(text))
    fraction = match.group(1)
    if fraction is None:
        return text[:-3]
    return f"{text[:20]}{fraction.ljust(6, '0')}"


_parse_datetime = value_decoder(models.DateTimeField())
_encode_datetime = value_encoder(models.DateTimeField())

_TO_STORED = {
    "integer": int,
    "text": copy_unescape,
    "JSONField": copy_unescape,
    "DateTimeField": _stored_datetime,
}


def line_to_stored(spec: TableSpec):
    """A function of an archive line (bytes) giving its column texts, split, and the row's
    stored values; ArchiveError for a line that is not a row of `spec`."""
    converters = [_TO_STORED[_kind(field)] for field in spec.fields]
    width = len(converters)

    def convert(line: bytes) -> tuple[list[str], list]:
        texts = line.decode().rstrip("\n").split("\t")
        if len(texts) != width:
            raise ArchiveError(f"A row of {spec.name} has {len(texts)} columns, not {width}.")
        try:
            values = [
                None if text == NULL else convert(text)
                for convert, text in zip(converters, texts, strict=True)
            ]
        except ValueError as exc:
            raise ArchiveError(f"A row of {spec.name} cannot be read: {exc}") from None
        return texts, values

    return convert


def _archive_text(value) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return copy_escape(value)


def _archive_datetime(value) -> str:
    if isinstance(value, str):
        match = _STORED_DATETIME.match(value)
        if match is not None:
            fraction = (match.group(1) or "").rstrip("0")
            return f"{value[:19]}.{fraction}+00" if fraction else f"{value[:19]}+00"
    from django.db import connection

    return _encode_datetime(connection.ops.convert_datetimefield_value(value, None, connection))


def _archive_json(value) -> str:
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        # Numbers orjson refuses (past 64 bits, NaN): the standard parser, as Django reads.
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            decoded = value
    return _archive_text(canonical_json(decoded))


_TO_ARCHIVE = {
    "integer": str,
    "text": _archive_text,
    "JSONField": _archive_json,
    "DateTimeField": _archive_datetime,
}


#: JSON texts remembered per column: many repeat from row to row (`{}`, a zoning, a value
#: band), and parsing and re-serialising is most of a line's cost. Short texts only, and a
#: bounded number, so the memory stays a few megabytes.
_JSON_CACHE_ENTRIES = 4096
_JSON_CACHE_MAX_CHARS = 512


def _cached_json():
    cache: dict[str, str] = {}

    def convert(value) -> str:
        text = cache.get(value)
        if text is None:
            text = _archive_json(value)
            if type(value) is str and len(value) <= _JSON_CACHE_MAX_CHARS:
                if len(cache) >= _JSON_CACHE_ENTRIES:
                    cache.clear()
                cache[value] = text
        return text

    return convert


def stored_to_line(spec: TableSpec):
    """A function of a row of stored values (in `spec.columns` order) giving its archive line,
    newline included, as the ORM path would write it."""
    converters = [
        _cached_json() if _kind(field) == "JSONField" else _TO_ARCHIVE[_kind(field)]
        for field in spec.fields
    ]

    def encode(row) -> bytes:
        return (
            "\t".join(
                [
                    NULL if value is None else convert(value)
                    for convert, value in zip(converters, row, strict=True)
                ]
            )
            + "\n"
        ).encode()

    return encode


def select_list(spec: TableSpec, alias: str, quote) -> str:
    """The columns of `spec` for a SELECT that feeds `stored_to_line`: timestamps as their
    stored text (a plain column would go through the backend's datetime converter)."""
    return ", ".join(
        f"CAST({alias}.{quote(field.column)} AS TEXT)"
        if _kind(field) == "DateTimeField"
        else f"{alias}.{quote(field.column)}"
        for field in spec.fields
    )
