"""Reading property files (CSV, XLSX, JSON) as a stream of rows.

A reader checks the file's structure up front (format, encoding, header, at least one data row)
and refuses a file it cannot read with a message for the user (`FileRefused`); after that it
yields one `RawRow` at a time, so the pipeline never holds the whole file.
"""

import codecs
import contextlib
import csv
import io
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from properties.limits import text_problem, zip_member_problem

from .errors import FileRefused
from .jsonstream import json_items
from .rules import is_blank
from .sniffing import ENCODING_NAMES, SNIFF_BYTES, detect_format, text_encoding
from .structure import (
    check_shared_strings,
    check_table_size,
    csv_error_message,
    limit,
    scan_sheet,
)

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass
class RawRow:
    #: Position in the file as a spreadsheet shows it: the header is row 1.
    number: int
    values: list
    #: A structural problem of this row (wrong number of columns, not an object).
    problem: str = ""


class TableReader(ABC):
    """A file's header and its rows, streamed; one subclass per format."""

    file_format = ""

    def __init__(self):
        self.headers: list[str] = []
        self.details: dict = {}

    @abstractmethod
    def rows(self) -> Iterator[RawRow]:
        """The data rows, in file order."""


def open_table(stream: BinaryIO, file_name: str) -> TableReader:
    """A reader for the file, or FileRefused. `stream` must be seekable binary."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    if not head.lstrip(codecs.BOM_UTF8).strip():
        raise FileRefused("The file is empty.")
    file_format = detect_format(head, file_name)
    if file_format == "xlsx":
        reader = XlsxReader(stream)
    else:
        encoding = text_encoding(stream, head)
        reader = (
            JsonReader(stream, encoding) if file_format == "json" else CsvReader(stream, encoding)
        )
    reader.start()
    return reader


class _PeekingReader(TableReader):
    """Checks the structure of the whole file, then reads the header and the first data row,
    all at start(): a file that breaks part-way (an unterminated quote near its end, a
    truncated document) or holds only a header is refused before any row is imported, on
    every path (preview, admin import, command, task)."""

    def start(self):
        self._check_structure()
        self._rows = self._read_rows()
        self._first = None
        for raw in self._rows:
            if not is_blank(raw.values) or raw.problem:
                self._first = raw
                break
        if self._first is None:
            raise FileRefused(
                "The file has a header row but no data rows."
                if self.headers
                else "The file has no rows."
            )

    def rows(self) -> Iterator[RawRow]:
        yield self._first
        yield from self._rows

    @abstractmethod
    def _read_rows(self) -> Iterator[RawRow]:
        """Every row after the header, blank ones included."""

    def _check_structure(self) -> None:
        """A streaming pass over the whole file that raises FileRefused, naming the row, for
        a structural error or a file over the row and column limits."""


def _check_headers(headers: list[str], where: str = "The header's") -> None:
    """Refuses the file when a column name cannot be stored (the preview keeps the names in a
    JSON column, which refuses a NUL or a lone surrogate)."""
    for position, name in enumerate(headers, start=1):
        if problem := text_problem(name):
            raise FileRefused(f"{where} column {position} {problem}; nothing was imported.")


def _sized(values: list, width: int, number: int) -> RawRow:
    if len(values) > width:
        extra = values[width:]
        if is_blank(extra):
            # Spreadsheets often end rows with empty cells; only values count.
            return RawRow(number, values[:width])
        # The surplus goes into the message so the rejected-rows report loses no value.
        surplus = ", ".join(repr(str(value)) for value in extra if value not in (None, ""))
        return RawRow(
            number,
            values[:width],
            f"has {len(values)} values but the header has {width} columns "
            f"(extra values: {surplus[:500]})",
        )
    if len(values) < width:
        return RawRow(
            number,
            values + [None] * (width - len(values)),
            f"has {len(values)} values but the header has {width} columns",
        )
    return RawRow(number, values)


class CsvReader(_PeekingReader):
    file_format = "csv"

    def __init__(self, stream: BinaryIO, encoding: str):
        super().__init__()
        self.stream = stream
        self.encoding = encoding
        self._delimiter = ","

    def _records(self) -> Iterator[tuple[int, list]]:
        """(row number, values) of every record from the file's start, header included; a
        malformed record raises FileRefused naming its row and the line it starts on."""
        self.stream.seek(0)
        text = io.TextIOWrapper(self.stream, encoding=self.encoding, newline="")
        reader = csv.reader(text, delimiter=self._delimiter, strict=True)
        number = 0
        try:
            while True:
                number += 1
                line = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise FileRefused(csv_error_message(exc, number, line)) from None
                yield number, values
        finally:
            # Detached, not closed, so the caller's stream stays open; a generator dropped
            # after the caller closed the stream has nothing left to detach.
            if not self.stream.closed:
                text.detach()

    def _check_structure(self) -> None:
        self.stream.seek(0)
        first_line = io.TextIOWrapper(self.stream, encoding=self.encoding, newline="")
        try:
            line = first_line.readline()
        finally:
            first_line.detach()
        delimiter = max(DELIMITERS, key=line.count) if line else ","
        self._delimiter = delimiter if any(d in line for d in DELIMITERS) else ","
        self.details = {
            "encoding": ENCODING_NAMES[self.encoding],
            "delimiter": DELIMITER_NAMES[self._delimiter],
        }
        max_rows, max_columns = limit("IMPORT_MAX_ROWS"), limit("IMPORT_MAX_COLUMNS")
        # Blank lines and empty trailing cells (a spreadsheet's export) are not rows or columns
        # of the table, as the import skips them. The first row counted is the header.
        rows = -1
        for _, values in self._records():
            if is_blank(values):
                continue
            rows += 1
            if len(values) > max_columns:
                while values and not values[-1].strip():
                    values.pop()
                check_table_size(columns=len(values))
            if rows > max_rows:
                check_table_size(rows=rows)

    def _read_rows(self) -> Iterator[RawRow]:
        width = 0
        for number, values in self._records():
            if not self.headers:
                if is_blank(values):
                    continue
                self.headers = [value.strip() for value in values]
                _check_headers(self.headers, f"Row {number}: the header's")
                width = len(self.headers)
                continue
            if is_blank(values):
                continue
            yield _sized(values, width, number)
        if not self.headers:
            raise FileRefused("The file is empty.")


class JsonReader(_PeekingReader):
    """A JSON list of objects; keys are the columns, in order of first appearance.

    Read twice, streaming, one item at a time: a first pass checks the whole document and
    collects the keys (so a broken file is refused before any row is imported), the second
    yields the rows. Memory holds one item and a read buffer, whatever the file's size."""

    file_format = "json"

    def __init__(self, stream: BinaryIO, encoding: str):
        super().__init__()
        self.stream = stream
        self.encoding = encoding

    def _read_rows(self) -> Iterator[RawRow]:
        headers: dict[str, None] = {}
        max_rows, max_columns = limit("IMPORT_MAX_ROWS"), limit("IMPORT_MAX_COLUMNS")
        # Closed at once when a key refuses the file, while the stream is still open.
        with contextlib.closing(json_items(self.stream, self.encoding)) as items:
            for count, item in enumerate(items, start=1):
                self._collect_keys(headers, count, item, max_rows, max_columns)
        self.headers = list(headers)
        self.details = {"encoding": ENCODING_NAMES[self.encoding]}
        for number, item in enumerate(json_items(self.stream, self.encoding), start=1):
            if not isinstance(item, dict):
                yield RawRow(
                    number, [None] * len(self.headers), f"is a {type(item).__name__}, not an object"
                )
                continue
            by_key = {str(key): value for key, value in item.items()}
            yield RawRow(number, [by_key.get(key) for key in self.headers])

    @staticmethod
    def _collect_keys(headers: dict, count: int, item, max_rows: int, max_columns: int):
        if isinstance(item, dict):
            for position, key in enumerate(item, start=1):
                if (key := str(key)) not in headers:
                    if problem := text_problem(key):
                        raise FileRefused(
                            f"Item {count} of the list: key {position} {problem}; "
                            "nothing was imported."
                        )
                    headers[key] = None
            if len(headers) > max_columns:
                check_table_size(columns=len(headers))
        if count > max_rows:
            check_table_size(rows=count)


class XlsxReader(_PeekingReader):
    file_format = "xlsx"

    def __init__(self, stream: BinaryIO):
        super().__init__()
        self.stream = stream

    def _open(self):
        from openpyxl import load_workbook

        merged = self._merged
        try:
            self.stream.seek(0)
            workbook = load_workbook(self.stream, read_only=True, data_only=True)
        except Exception:
            # A damaged archive raises a dozen exception types; all mean the same to a user.
            raise FileRefused("The file is not a readable Excel (XLSX) workbook.") from None
        if len(workbook.sheetnames) > 1:
            names = ", ".join(workbook.sheetnames)
            workbook.close()
            raise FileRefused(
                f"The workbook has {len(workbook.sheetnames)} sheets ({names}); "
                "keep only the sheet to import."
            )
        if merged:
            workbook.close()
            raise FileRefused(
                "The sheet has merged cells; unmerge them so every row has its own values."
            )
        sheet = workbook.worksheets[0]
        return workbook, sheet

    def _check_member_sizes(self) -> None:
        """Refuses, before any part is decompressed, a part whose declared size or compression
        ratio passes XLSX_MAX_MEMBER_BYTES / XLSX_MAX_COMPRESSION_RATIO (a zip bomb)."""
        self.stream.seek(0)
        try:
            problem = zip_member_problem(
                zipfile.ZipFile(self.stream),
                bytes_limit="XLSX_MAX_MEMBER_BYTES",
                ratio_limit="XLSX_MAX_COMPRESSION_RATIO",
            )
        except (zipfile.BadZipFile, OSError, ValueError):
            raise FileRefused("The file is not a readable Excel (XLSX) workbook.") from None
        if problem:
            name, why = problem
            raise FileRefused(f"The workbook's part {name} {why}; nothing was read.")

    def _check_structure(self) -> None:
        """Every worksheet's XML parsed once, streaming, without building cells: a damaged or
        truncated sheet is refused before any row is imported, and merged cells (which
        read-only worksheets do not parse) and the row count are found on the way."""
        self._check_member_sizes()
        self.stream.seek(0)
        self._merged = False
        try:
            with zipfile.ZipFile(self.stream) as archive:
                strings = check_shared_strings(archive)
                for name in archive.namelist():
                    if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                        self._merged |= scan_sheet(archive, name, strings)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
            raise FileRefused(
                "The workbook is damaged (a part of it cannot be decompressed); nothing was "
                "imported."
            ) from None

    def _read_rows(self) -> Iterator[RawRow]:
        workbook, sheet = self._open()
        try:
            width = 0
            for number, values in enumerate(_readable(sheet.iter_rows(values_only=True)), 1):
                values = list(values)
                if not self.headers:
                    if is_blank(values):
                        continue
                    while values and (values[-1] is None or str(values[-1]).strip() == ""):
                        values.pop()
                    self.headers = [
                        str(value).strip() if value is not None else "" for value in values
                    ]
                    width = len(self.headers)
                    check_table_size(columns=width)
                    _check_headers(self.headers, f"Row {number}: the header's")
                    continue
                if is_blank(values):
                    continue
                # A spreadsheet row has no "too few columns": missing cells are empty cells.
                values += [None] * (width - len(values))
                yield _sized(values, width, number)
        finally:
            workbook.close()
        if not self.headers:
            raise FileRefused("The file is empty.")


def _readable(rows: Iterator[tuple]) -> Iterator[tuple]:
    """openpyxl's rows, its failure on a cell value the structure check let through (it raises
    ValueError, IndexError, KeyError...) turned into a sentence naming the row."""
    number = 0
    while True:
        number += 1
        try:
            values = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise FileRefused(
                f"Row {number:,}: a cell value cannot be read ({type(exc).__name__}: "
                f"{str(exc)[:200]}); the workbook is damaged."
            ) from None
        yield values
