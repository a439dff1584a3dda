"""Reading one cell: text, numbers, postcodes and dates as people and spreadsheets write them.

Pure functions; a value that cannot be read raises `Invalid` with a sentence for the user.
"""

import math
import re
from datetime import date, datetime, timedelta

_POSTCODE_RE = re.compile(r"^(\d{4})(?:\.0*)?$")
_MONEY_STRIP_RE = re.compile(r"[\s$,]")
_PLAIN_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?\Z")
_DAY_MONTH_YEAR_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.]+Z?)?$")
_MONTH_YEAR_RE = re.compile(r"^(\d{1,2})[/-](\d{4})$")
_ISO_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
_EXCEL_SERIAL_RE = re.compile(r"^\d{5}(?:\.0*)?$")
# Day 0 of Excel's 1900 date system, as read by every spreadsheet since its leap-year slip.
_EXCEL_EPOCH = date(1899, 12, 30)
#: Cells exports write for "no value" (the Perth sales export writes NULL).
NULL_TOKENS = frozenset({"NULL", "null", "Null"})


class Invalid(Exception):
    """A cell that cannot be read; the message is the sentence shown to the user."""


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shorten(value, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text(value) -> str:
    """A cell as text, only its leading and trailing blanks trimmed: a description's line
    breaks stay as written (Windows line ends become plain ones)."""
    if type(value) is str:
        # Most cells of a CSV: checked first, since every row calls this a dozen times.
        stripped = value.strip()
        if "\r" in stripped:
            stripped = stripped.replace("\r\n", "\n").replace("\r", "\n")
        return "" if stripped in NULL_TOKENS else stripped
    if value is None:
        return ""
    if is_number(value):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return text(str(value))


def single_line(value: str) -> str:
    """A single-line field (address, suburb): inner runs of blanks become one space."""
    return " ".join(value.split())


def number(value, *, name: str) -> float | None:
    """A number from a cell: None when empty; `$1,250,000`, `1480000.0` and spreadsheet numbers
    accepted; NaN and infinities refused (they cannot be stored in JSON)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Invalid(f"{name} must be a number")
    if is_number(value):
        result = float(value)
    elif type(value) is str and _PLAIN_NUMBER_RE.match(value):
        result = float(value)  # the common case, without the money clean-up
    else:
        cleaned = _MONEY_STRIP_RE.sub("", str(value))
        if not cleaned or cleaned in NULL_TOKENS:
            return None
        try:
            result = float(cleaned)
        except ValueError:
            raise Invalid(f"{name} must be a number, got {shorten(value)!r}") from None
    if not math.isfinite(result):
        raise Invalid(f"{name} must be a finite number, got {shorten(value)!r}")
    return result


def as_json_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def postcode(value) -> str:
    if is_number(value) and float(value).is_integer() and 0 < value < 10_000:
        # A spreadsheet number has lost the leading zero of a Northern Territory postcode.
        return f"{int(value):04d}"
    written = text(value)
    match = _POSTCODE_RE.match(written)
    if not match:
        raise Invalid(f"must be exactly 4 digits, got {shorten(written)!r}")
    return match.group(1)


def sale_date(value) -> str | None:
    """A sale date as ISO 8601: `2016-12-03` from 3/12/2016, 2016-12-03 or the Excel serial
    42707; a month without a day (`09-2018`, `2018-09`) stays a month, `2018-09`, rather than
    gaining a day nobody wrote."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if is_number(value):
        return _excel_serial(float(value), value)
    written = text(value)
    if not written:
        return None
    if _EXCEL_SERIAL_RE.match(written):
        return _excel_serial(float(written), written)
    for pattern, order in (
        (_DAY_MONTH_YEAR_RE, (3, 2, 1)),
        (_ISO_DATE_RE, (1, 2, 3)),
    ):
        match = pattern.match(written)
        if match:
            year, month, day = (int(match.group(i)) for i in order)
            return _calendar_date(year, month, day, written)
    for pattern, order in ((_MONTH_YEAR_RE, (2, 1)), (_ISO_MONTH_RE, (1, 2))):
        match = pattern.match(written)
        if match:
            year, month = (int(match.group(i)) for i in order)
            if 1 <= month <= 12:
                return f"{year:04d}-{month:02d}"
            raise Invalid(f"is not a date, got {shorten(written)!r}")
    raise Invalid(
        f"must be a date such as 3/12/2016, 2016-12-03 or 09-2018, got {shorten(written)!r}"
    )


def _calendar_date(year: int, month: int, day: int, written: str) -> str:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise Invalid(f"is not a date, got {shorten(written)!r}") from None


def _excel_serial(serial: float, written) -> str:
    # Serials of 1900..2100: anything else in a date column is not a date.
    if not serial.is_integer() or not 1 <= serial <= 73_415:
        raise Invalid(f"is not a date, got {shorten(written)!r}")
    return (_EXCEL_EPOCH + timedelta(days=int(serial))).isoformat()
