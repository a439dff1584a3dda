"""The backup archive: one zip file holding `manifest.json` and one member per table.

Each member holds the table's rows in PostgreSQL's COPY text format (tab-separated, `\\N` for
NULL, backslash escapes), so the PostgreSQL path streams rows with a plain `COPY ... TO STDOUT`
and loads them with `COPY ... FROM STDIN`, while the ORM path writes and reads the same bytes in
Python. The canonical forms, which the ORM path reproduces:

- integers as digits, strings as they are (escaped);
- timestamps in UTC as PostgreSQL prints them with DateStyle ISO: `2026-01-31 04:05:06.00007+00`
  (the fraction's trailing zeros dropped);
- JSON columns as PostgreSQL's jsonb prints them: keys ordered by length then bytes, `", "` and
  `": "` separators, numbers without exponents.

A table's hash is the sum, modulo 2**64, of the first 8 bytes of the SHA-256 of each line (with
its newline): it does not depend on row order, so neither the backup nor the drill has to sort
rows.
"""

import datetime
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring

from django.db import models
from django.db.migrations.recorder import MigrationRecorder

from properties.limits import zip_member_problem
from properties.models import Project, Property, PropertyAnalysis

FORMAT_NAME = "property-platform-org-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
#: Apps whose schema the archive's rows depend on; a restore needs the same migration state.
SCHEMA_APPS = ("properties",)
# Deterministic member timestamps: the same rows give the same file.
_ZIP_DATE = (2000, 1, 1, 0, 0, 0)
_HASH_MODULUS = 2**64


class ArchiveError(Exception):
    """The archive cannot be read, or its content does not match its manifest."""


@dataclass(frozen=True)
class TableSpec:
    """One backed-up table: `model` and, for history tables, the live model it records."""

    model: type[models.Model]
    live_model: type[models.Model] | None = None

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def is_history(self) -> bool:
        return self.live_model is not None

    @property
    def fields(self) -> list[models.Field]:
        return list(self.model._meta.concrete_fields)

    @property
    def columns(self) -> list[str]:
        return [field.column for field in self.fields]

    @property
    def pk_column(self) -> str:
        return self.model._meta.pk.column

    @property
    def member(self) -> str:
        return f"{self.name}.tsv"


def table_specs() -> list[TableSpec]:
    """The tables of an organisation's backup, parents before children (the insert order)."""
    live = [Project, Property, PropertyAnalysis]
    return [TableSpec(model) for model in live] + [
        TableSpec(model.history.model, live_model=model) for model in live
    ]


def spec_for(name: str) -> TableSpec:
    for spec in table_specs():
        if spec.name == name:
            return spec
    raise ArchiveError(f"Unknown table {name!r}.")


def migration_state(connection) -> dict[str, str]:
    """The latest applied migration of each schema app, e.g. {"properties": "0002_..."}."""
    applied = MigrationRecorder(connection).applied_migrations()
    state = {}
    for app_label in SCHEMA_APPS:
        names = sorted(name for app, name in applied if app == app_label)
        state[app_label] = names[-1] if names else ""
    return state


# Canonical serialisation -------------------------------------------------------------------


def _json_key(key: str) -> tuple[int, bytes]:
    encoded = key.encode()
    return (len(encoded), encoded)


def _item_key(item) -> tuple:
    """_json_key of an item's key; an ASCII key's length and text order the same way, without
    encoding it (code point order is UTF-8's byte order)."""
    key = item[0]
    return (len(key) if key.isascii() else len(key.encode()), key)


def canonical_json(value) -> str:
    """`value` as PostgreSQL prints the equal jsonb value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        # jsonb stores numbers as numeric, which prints without an exponent.
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(value, str):
        # What json.dumps(value, ensure_ascii=False) returns, without building an encoder
        # per string (a backup serialises millions).
        return encode_basestring(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=_item_key)
        return "{" + ", ".join(f"{canonical_json(k)}: {canonical_json(v)}" for k, v in items) + "}"
    raise ArchiveError(f"Cannot serialise {type(value).__name__} in a JSON column.")


_COPY_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
)
_COPY_UNESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
NULL = "\\N"


def copy_escape(text: str) -> str:
    return text.translate(_COPY_ESCAPES)


def copy_unescape(text: str) -> str:
    if "\\" not in text:
        return text
    parts, index = [], 0
    while (found := text.find("\\", index)) != -1:
        parts.append(text[index:found])
        parts.append(_COPY_UNESCAPES.get(text[found + 1], text[found + 1]))
        index = found + 2
    parts.append(text[index:])
    return "".join(parts)


def _encode_datetime(value: datetime.datetime) -> str:
    utc = value.astimezone(datetime.UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "+00"


def value_encoder(field: models.Field):
    internal = field.get_internal_type()
    if internal == "JSONField":
        return lambda value: NULL if value is None else copy_escape(canonical_json(value))
    if internal == "DateTimeField":
        return lambda value: NULL if value is None else _encode_datetime(value)
    if internal in ("CharField", "TextField", "SlugField"):
        return lambda value: NULL if value is None else copy_escape(value)
    return lambda value: NULL if value is None else str(int(value))


def value_decoder(field: models.Field):
    internal = field.get_internal_type()
    if internal == "JSONField":
        return lambda text: json.loads(copy_unescape(text))
    if internal == "DateTimeField":
        return datetime.datetime.fromisoformat
    if internal in ("CharField", "TextField", "SlugField"):
        return copy_unescape
    return int


def row_encoder(spec: TableSpec):
    encoders = [value_encoder(field) for field in spec.fields]

    def encode(row) -> str:
        """The row's line, with its newline."""
        parts = (encode(value) for encode, value in zip(encoders, row, strict=True))
        return "\t".join(parts) + "\n"

    return encode


def row_decoder(spec: TableSpec):
    decoders = [value_decoder(field) for field in spec.fields]

    def decode(line: bytes) -> list:
        texts = line.decode().rstrip("\n").split("\t")
        if len(texts) != len(decoders):
            raise ArchiveError(
                f"A row of {spec.name} has {len(texts)} columns, not {len(decoders)}."
            )
        return [
            None if text == NULL else decode(text)
            for decode, text in zip(decoders, texts, strict=True)
        ]

    return decode


def line_digest(line: bytes) -> int:
    return int.from_bytes(hashlib.sha256(line).digest()[:8], "big")


class TableDigest:
    """Counts rows and accumulates the order-independent hash of their lines."""

    def __init__(self):
        self.count = 0
        self._sum = 0

    def add_line(self, line: bytes) -> None:
        """Adds one line, newline included."""
        self.count += 1
        self._sum += line_digest(line)

    def add_totals(self, count: int, digest_sum: int) -> None:
        """Adds lines counted and summed by a caller's own loop (the COPY path)."""
        self.count += count
        self._sum += digest_sum

    @property
    def hexdigest(self) -> str:
        return f"{self._sum % _HASH_MODULUS:016x}"

    def manifest_entry(self, spec: TableSpec) -> dict:
        """The manifest's `tables` entry for `spec`'s member holding these lines."""
        return {"columns": spec.columns, "count": self.count, "hash": self.hexdigest}


def write_table(writer, spec: TableSpec, lines) -> TableDigest:
    """Writes `lines` (bytes, newline included) as `spec`'s member of `writer`; their digest."""
    digest = TableDigest()
    with writer.open_member(spec.member) as member:
        for line in lines:
            digest.add_line(line)
            member.write(line)
    return digest


# Writing and reading ----------------------------------------------------------------------


class ArchiveWriter:
    """Writes the zip to a binary file object; one `table()` stream per table, then `close()`."""

    def __init__(self, fileobj, *, compresslevel: int = 1):
        self._compresslevel = compresslevel
        self._zip = zipfile.ZipFile(
            fileobj, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )

    def open_member(self, name: str):
        info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        # A ZipInfo passed to open() brings its own level, zlib's default (6) unless set; level
        # 1 compresses these rows almost as well at a third of the cost. The attribute is named
        # privately; 3.13 adds a public compress_level property over it.
        info._compresslevel = self._compresslevel
        return self._zip.open(info, "w", force_zip64=True)

    def write_manifest(self, manifest: dict) -> None:
        with self.open_member(MANIFEST_NAME) as member:
            member.write(json.dumps(manifest, indent=2, sort_keys=True).encode())

    def close(self) -> None:
        self._zip.close()


def _check_member_sizes(archive: zipfile.ZipFile) -> None:
    """Refuses, before anything is decompressed, a member whose declared size or compression
    ratio passes BACKUP_MAX_MEMBER_BYTES / BACKUP_MAX_COMPRESSION_RATIO (a zip bomb)."""
    problem = zip_member_problem(
        archive, bytes_limit="BACKUP_MAX_MEMBER_BYTES", ratio_limit="BACKUP_MAX_COMPRESSION_RATIO"
    )
    if problem:
        name, why = problem
        raise ArchiveError(f"Archive member {name} {why}.")


class ArchiveReader:
    """Reads an archive and checks it against its manifest."""

    #: Where the archive was read from ("primary" or "replica"), and why, for the record.
    source = "primary"
    source_note = ""

    def __init__(self, fileobj):
        self._file = fileobj
        try:
            self._zip = zipfile.ZipFile(fileobj)
            _check_member_sizes(self._zip)
            self.manifest = json.loads(self._zip.read(MANIFEST_NAME))
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            fileobj.close()
            raise ArchiveError(f"The archive is not a readable backup: {exc}") from exc
        if self.manifest.get("format") != FORMAT_NAME:
            raise ArchiveError("The archive is not an organisation backup (unknown format).")

    @property
    def tables(self) -> dict[str, dict]:
        return self.manifest.get("tables", {})

    def open_table(self, name: str):
        try:
            return self._zip.open(f"{name}.tsv")
        except KeyError as exc:
            raise ArchiveError(f"The archive has no member for table {name}.") from exc

    def lines(self, name: str):
        """The table's lines as bytes, each with its newline. A line longer than
        BACKUP_MAX_ROW_BYTES is refused as soon as that much of it is read: a crafted member
        of one endless line would otherwise be read into memory whole."""
        from django.conf import settings

        limit = settings.BACKUP_MAX_ROW_BYTES
        with self.open_table(name) as member:
            buffered = io.BufferedReader(member, buffer_size=1 << 20)
            while line := buffered.readline(limit + 1):
                if len(line) > limit:
                    raise ArchiveError(
                        f"A row of table {name} is longer than BACKUP_MAX_ROW_BYTES "
                        f"({limit:,} bytes)."
                    )
                yield line

    def check_content(self) -> None:
        """Raises ArchiveError unless every table's row count and hash match the manifest."""
        for name, expected in self.tables.items():
            digest = TableDigest()
            try:
                for line in self.lines(name):
                    digest.add_line(line)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ArchiveError(f"Table {name} cannot be read: {exc}") from exc
            if digest.count != expected.get("count"):
                raise ArchiveError(
                    f"Table {name} holds {digest.count} rows, the manifest says "
                    f"{expected.get('count')}."
                )
            if digest.hexdigest != expected.get("hash"):
                raise ArchiveError(f"Table {name}'s rows do not match the manifest's hash.")

    def close(self) -> None:
        self._zip.close()
        self._file.close()


def file_sha256(fileobj) -> tuple[str, int]:
    """SHA-256 and size of a file object, read from its start."""
    fileobj.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := fileobj.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), size
