"""Whole-file structure checks the readers run before any row is imported: the row and
column limits, CSV errors in words naming the row and line, a worksheet's XML parsed once.

The rule (docs/imports.md): a file that breaks part-way is refused whole, so nothing of a
broken file is ever stored, whichever path (admin, command, task) imports it.
"""

import csv
import re
import zipfile
from xml.parsers import expat

from .errors import FileRefused

CHUNK_BYTES = 1024 * 1024


def limit(name: str) -> int:
    from django.conf import settings

    return getattr(settings, name)


def check_table_size(*, rows: int = 0, columns: int = 0) -> None:
    """Refuses a file over IMPORT_MAX_ROWS data rows or IMPORT_MAX_COLUMNS columns."""
    max_rows, max_columns = limit("IMPORT_MAX_ROWS"), limit("IMPORT_MAX_COLUMNS")
    if rows > max_rows:
        raise FileRefused(
            f"The file has more than {max_rows:,} data rows (IMPORT_MAX_ROWS); split it into "
            "smaller files. Nothing was imported."
        )
    if columns > max_columns:
        raise FileRefused(
            f"The file has {columns:,} columns, more than IMPORT_MAX_COLUMNS ({max_columns:,}). "
            "Nothing was imported."
        )


def csv_error_message(exc: csv.Error, number: int, line: int) -> str:
    message = str(exc)
    where = f"Row {number:,} (from line {line:,} of the file)"
    if "field larger than field limit" in message:
        return (
            f"{where}: a field is longer than {csv.field_size_limit():,} characters. "
            "The file is damaged or has an unterminated quote; nothing was imported."
        )
    if "unexpected end of data" in message or "EOF" in message:
        return (
            f"{where}: a quoted field is never closed (unterminated quote); nothing was imported."
        )
    if "expected after" in message:
        return (
            f"{where}: a quoted field is not closed where it should be (a stray or "
            "unterminated quote); nothing was imported."
        )
    return f"{where}: the CSV is malformed ({message}); nothing was imported."


def check_shared_strings(archive: zipfile.ZipFile) -> None:
    """Refuses shared strings over XLSX_MAX_SHARED_STRINGS_BYTES: openpyxl holds that part in
    memory whole, about six times its size."""
    max_bytes = limit("XLSX_MAX_SHARED_STRINGS_BYTES")
    for info in archive.infolist():
        if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > max_bytes:
            raise FileRefused(
                f"The workbook's shared strings would expand to {info.file_size:,} bytes, "
                f"more than XLSX_MAX_SHARED_STRINGS_BYTES ({max_bytes:,}); nothing was read."
            )


_SHEET_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
_MERGE_CELL = re.compile(rb"<(?:\w+:)?mergeCell[\s>/]")


def scan_sheet(archive: zipfile.ZipFile, name: str) -> bool:
    """Whether the sheet has merged cells (read-only worksheets do not parse them); refuses,
    naming the last whole row, a sheet whose XML is broken or holds more than IMPORT_MAX_ROWS
    rows. Parsed without element handlers: one per cell would cost more than the parse."""
    parser = expat.ParserCreate()
    max_rows = limit("IMPORT_MAX_ROWS")
    rows, merged, tail, offset = 0, False, b"", 0
    with archive.open(name) as sheet_xml:
        while chunk := sheet_xml.read(CHUNK_BYTES):
            try:
                parser.Parse(chunk, False)
            except expat.ExpatError as exc:
                before = tail + chunk[: max(parser.ErrorByteIndex - offset, 0)]
                rows += len(_SHEET_ROW.findall(before)) - len(_SHEET_ROW.findall(tail))
                _refuse_sheet(exc, rows)
            offset += len(chunk)
            window = tail + chunk
            rows += len(_SHEET_ROW.findall(window)) - len(_SHEET_ROW.findall(tail))
            merged = merged or bool(_MERGE_CELL.search(window))
            tail = chunk[-16:]
            if rows > max_rows + 1:  # the header is one of them
                check_table_size(rows=rows - 1)
        try:
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            _refuse_sheet(exc, rows)
    return merged


def _refuse_sheet(exc: expat.ExpatError, rows: int):
    # The row being read when the XML broke is not whole: the rows before it are.
    raise FileRefused(
        f"The sheet is damaged after row {max(rows - 1, 0):,} "
        f"({expat.errors.messages[exc.code]} at line {exc.lineno:,} of its XML); "
        "nothing was imported."
    ) from None
