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


def check_shared_strings(archive: zipfile.ZipFile) -> int:
    """Refuses shared strings over XLSX_MAX_SHARED_STRINGS_BYTES: openpyxl holds that part in
    memory whole, about six times its size. Returns how many strings the table holds."""
    max_bytes = limit("XLSX_MAX_SHARED_STRINGS_BYTES")
    count = 0
    for info in archive.infolist():
        if not info.filename.lower().endswith("sharedstrings.xml"):
            continue
        if info.file_size > max_bytes:
            raise FileRefused(
                f"The workbook's shared strings would expand to {info.file_size:,} bytes, "
                f"more than XLSX_MAX_SHARED_STRINGS_BYTES ({max_bytes:,}); nothing was read."
            )
        with archive.open(info) as part:
            tail = b""
            while chunk := part.read(CHUNK_BYTES):
                window = tail + chunk
                count += len(_SHARED_STRING.findall(window)) - len(_SHARED_STRING.findall(tail))
                tail = chunk[-16:]
    return count


_SHARED_STRING = re.compile(rb"<(?:\w+:)?si[\s>]")
# A cell's opening tag, then an optional formula, then its value's text up to the next tag.
_FORMULA = rb"\s*(?:<(?:\w+:)?f\b[^>]*?(?:/>|>[^<]*</(?:\w+:)?f>)\s*)?"
_VALUE = rb"<(?:\w+:)?v>"
_NUMBER = rb"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*<"
#: A value that is not a number; whether its cell is a number cell is then looked up.
_NOT_A_NUMBER = re.compile(_VALUE + rb"(?!" + _NUMBER + rb")([^<]*)<")
_CELL_START = re.compile(rb"<(?:\w+:)?c\s([^>]*)>")
_TYPED = re.compile(rb"\bt=[\"'](?!n[\"'])")
#: A shared-string cell's index (found from its type, which the search finds fast).
_SHARED_CELL = re.compile(rb"\st=[\"']s[\"'][^>]*?(?<!/)>" + _FORMULA + _VALUE + rb"([^<]*)<")
_CLOSE_CELL = re.compile(rb"</(?:\w+:)?c>")
_CELL_REFERENCE = re.compile(rb"\br=[\"']([A-Z]+\d+)[\"']")


class _CellCheck:
    """The cell values openpyxl would fail on part-way through an import (a number cell that
    holds text, a shared-string index past the table), found by regular expressions over
    whole cells only: a cell cut by a chunk's end waits for the next chunk."""

    def __init__(self, strings: int):
        self.strings = strings
        self.pending = b""

    def feed(self, chunk: bytes, rows: int) -> None:
        window = self.pending + chunk
        cut = window.rfind(b"</")
        while cut >= 0 and not _CLOSE_CELL.match(window, cut):
            cut = window.rfind(b"</", 0, cut)
        end = cut + len(_CLOSE_CELL.match(window, cut).group()) if cut >= 0 else 0
        whole, self.pending = window[:end], window[end:]
        for value in _NOT_A_NUMBER.finditer(whole):
            # Rare outside text cells (a formula's text result, an error): cheap to look back.
            attrs = _cell_attributes(whole, value.start())
            if attrs is not None and not _TYPED.search(attrs):
                self._refuse(attrs, rows, f"holds {_shown(value.group(1))}, which is not a number")
        for cell in _SHARED_CELL.finditer(whole):
            index = cell.group(1).strip()
            if not index.isdigit() or int(index) >= self.strings:
                self._refuse(
                    _cell_attributes(whole, cell.start()) or b"",
                    rows,
                    f"refers to shared string {_shown(index)}, but the workbook has "
                    f"{self.strings:,}",
                )

    @staticmethod
    def _refuse(attrs: bytes, rows: int, why: str):
        reference = _CELL_REFERENCE.search(attrs)
        name = reference.group(1).decode() if reference else "a cell"
        row = int(re.sub(r"[A-Z]", "", name)) if reference else rows
        raise FileRefused(
            f"Row {row:,}: {'cell ' + name if reference else name} {why}; the workbook is "
            "damaged, nothing was imported."
        )


def _cell_attributes(xml: bytes, position: int) -> bytes | None:
    """The attributes of the cell whose content is at `position`."""
    start = max(xml.rfind(b"<c ", 0, position), xml.rfind(b":c ", 0, position))
    cell = _CELL_START.match(xml, xml.rfind(b"<", 0, start + 1))
    return cell.group(1) if cell else None


def _shown(value: bytes) -> str:
    return repr(value[:40].decode("utf-8", "replace"))


_SHEET_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
_MERGE_CELL = re.compile(rb"<(?:\w+:)?mergeCell[\s>/]")


def scan_sheet(archive: zipfile.ZipFile, name: str, strings: int = 0) -> bool:
    """Whether the sheet has merged cells (read-only worksheets do not parse them); refuses,
    naming the last whole row, a sheet whose XML is broken or holds more than IMPORT_MAX_ROWS
    rows, or a cell value openpyxl cannot read (`_CellCheck`; `strings` is the shared-string
    count). Parsed without element handlers: one per cell would cost more than the parse."""
    parser = expat.ParserCreate()
    cells = _CellCheck(strings)
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
            cells.feed(chunk, rows)
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
