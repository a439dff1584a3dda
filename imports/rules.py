"""The import rules: row validation and the transform into the JSON groups (the file's columns
are mapped by `columns`).

Pure functions with no database access, shared by every path that reads a property file (admin
preview, admin import, command, background task), so all of them accept and reject exactly the
same rows.

The estimated value rule here (0 < value < 50,000,000) is deliberately wider than the integrity
check's "unrealistic value" thresholds (< 1,000 or > 50,000,000): an import refuses values that
cannot be right, the integrity report flags values that are merely suspicious.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from properties.limits import number_problem, text_problem
from properties.models import derive_external_id
from properties.postcodes import state_for_postcode

STATES = frozenset({"NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"})
MIN_ADDRESS_LENGTH = 6
MAX_TEXT_LENGTH = {"propertyid": 255, "address": 255, "suburb": 100, "zoning": 50}
MAX_DESCRIPTION_LENGTH = 2000
MAX_ESTIMATED_VALUE = 50_000_000
VALUE_PER_AREA_RANGE = (10, 10_000)

_SUBURB_PUNCTUATION = frozenset(" '’-.")
_SUBURB_PUNCTUATION_DELETE = str.maketrans(dict.fromkeys(_SUBURB_PUNCTUATION))
_POSTCODE_RE = re.compile(r"^(\d{4})(?:\.0*)?$")
_MONEY_STRIP_RE = re.compile(r"[\s$,]")
_PLAIN_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?\Z")


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def __str__(self):
        return f"row {self.row}, {self.field}: {self.message}"


@dataclass
class ValidRow:
    row: int
    external_id: str
    groups: dict = field(default_factory=dict)


def is_blank(cells) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value) -> str:
    if type(value) is str:
        # Most cells of a CSV: checked first, since every row calls this a dozen times.
        return " ".join(value.split())
    if value is None:
        return ""
    if _is_number(value):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return " ".join(str(value).split())


class _Invalid(Exception):
    pass


def _number(value, *, name: str) -> float | None:
    """A number from a cell: None when empty; `$1,250,000`, `1480000.0` and spreadsheet numbers
    accepted; NaN and infinities refused (they cannot be stored in JSON)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Invalid(f"{name} must be a number")
    if _is_number(value):
        number = float(value)
    elif type(value) is str and _PLAIN_NUMBER_RE.match(value):
        number = float(value)  # the common case, without the money clean-up
    else:
        text = _MONEY_STRIP_RE.sub("", str(value))
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise _Invalid(f"{name} must be a number, got {_shorten(value)!r}") from None
    if not math.isfinite(number):
        raise _Invalid(f"{name} must be a finite number, got {_shorten(value)!r}")
    return number


def _as_json_number(number: float) -> int | float:
    return int(number) if number.is_integer() else number


def _shorten(value, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_suburb_name(text: str) -> bool:
    # Letters of any script (É, ü), plus the punctuation of real names such as "O'Connor",
    # "St. Kilda East" and "Yarra-Glen"; no digits or other symbols.
    # Deleting the punctuation and asking str.isalpha() once is the same test, and much cheaper
    # than a character-by-character walk (docs/imports.md).
    return text[0].isalpha() and (text.translate(_SUBURB_PUNCTUATION_DELETE).isalpha())


def _postcode(value) -> str:
    if _is_number(value) and float(value).is_integer() and 0 < value < 10_000:
        # A spreadsheet number has lost the leading zero of a Northern Territory postcode.
        return f"{int(value):04d}"
    text = _text(value)
    match = _POSTCODE_RE.match(text)
    if not match:
        raise _Invalid(f"must be exactly 4 digits, got {_shorten(text)!r}")
    return match.group(1)


def _coordinates(cells: dict, errors: list, row: int):
    if "coordinates" in cells and _text(cells["coordinates"]):
        text = _text(cells["coordinates"])
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != 2:
            errors.append(
                RowError(row, "coordinates", f"must be 'lat,lng', got {_shorten(text)!r}")
            )
            return None
        lat_raw, lng_raw = parts
        field_lat = field_lng = "coordinates"
    else:
        lat_raw, lng_raw = cells.get("latitude"), cells.get("longitude")
        if not _text(lat_raw) and not _text(lng_raw):
            return None
        if not _text(lat_raw) or not _text(lng_raw):
            missing = "latitude" if not _text(lat_raw) else "longitude"
            errors.append(RowError(row, missing, "is required when the other coordinate is given"))
            return None
        field_lat, field_lng = "latitude", "longitude"
    try:
        lat = _number(lat_raw, name="latitude")
        lng = _number(lng_raw, name="longitude")
    except _Invalid as exc:
        errors.append(RowError(row, field_lat, str(exc)))
        return None
    ok = True
    if not -90 <= lat <= 90:
        errors.append(RowError(row, field_lat, f"latitude {lat} is outside -90..90"))
        ok = False
    if not -180 <= lng <= 180:
        errors.append(RowError(row, field_lng, f"longitude {lng} is outside -180..180"))
        ok = False
    if not ok:
        return None
    return {"type": "Point", "coordinates": [_as_json_number(lng), _as_json_number(lat)]}


class _RowCheck:
    """One row under validation: its cells, their texts and the errors found so far."""

    __slots__ = ("cells", "errors", "row", "texts", "too_long")

    def __init__(self, cells: dict, row: int):
        self.cells = cells
        self.row = row
        self.errors: list[RowError] = []
        self.texts: dict = {}
        self.too_long: set = set()

    def error(self, name: str, message: str) -> None:
        self.errors.append(RowError(self.row, name, message))


def validate_row(cells: dict, *, row: int) -> tuple[ValidRow | None, list[RowError]]:
    """Check one row (cells keyed by normalised column name) against every rule.

    Returns the transformed row, or None and every error of the row (never only the first).
    """
    check = _RowCheck(cells, row)
    _check_plain_values(check)
    if check.errors:
        return None, check.errors
    # Each cell's text once: most rules below read it, some twice.
    check.texts = {name: _text(cell) for name, cell in cells.items()}
    _check_lengths(check)

    basic_info = _basic_info(check)
    financial_metrics, value = _financial_metrics(check)
    planning_controls, land_area = _planning_controls(check)
    _check_value_per_area(check, value, land_area)
    spatial_attributes: dict = {}
    point = _coordinates(cells, check.errors, row)
    if point is not None:
        spatial_attributes["coordinates"] = point
    if check.errors:
        return None, check.errors

    groups = {"basic_info": basic_info}
    if planning_controls:
        groups["planning_controls"] = planning_controls
    if financial_metrics:
        groups["financial_metrics"] = financial_metrics
    if spatial_attributes:
        groups["spatial_attributes"] = spatial_attributes
    external_id = check.texts.get("propertyid", "") or derive_external_id(basic_info)
    return ValidRow(row=row, external_id=external_id, groups=groups), []


def _check_plain_values(check: _RowCheck) -> None:
    """Values no database can store (a NUL, a lone surrogate, NaN, a 5,000-digit number, an
    overlong cell) are row errors here, so the preview counts them as rejected."""
    for name, cell in check.cells.items():
        if isinstance(cell, (dict, list)):
            check.error(name, "must be a plain value, not a list or object")
        elif type(cell) is str:
            problem = text_problem(cell)
            if problem:
                check.error(name, problem)
        elif isinstance(cell, (int, float)) and not isinstance(cell, bool):
            problem = number_problem(cell)
            if problem:
                check.error(name, problem)


def _check_lengths(check: _RowCheck) -> None:
    texts = check.texts
    for name, limit in MAX_TEXT_LENGTH.items():
        if len(texts.get(name, "")) > limit:
            check.error(name, f"is longer than {limit} characters")
    if len(texts.get("description", "")) > MAX_DESCRIPTION_LENGTH:
        check.error("description", f"is longer than {MAX_DESCRIPTION_LENGTH} characters")
    check.too_long = {error.field for error in check.errors}


# basic_info ---------------------------------------------------------------------------------


def _basic_info(check: _RowCheck) -> dict:
    basic_info: dict = {}
    for name, value in (
        ("address", _address(check)),
        ("suburb", _suburb(check)),
        ("postcode", _postcode_of(check)),
    ):
        if value is not None:
            basic_info[name] = value
    state = _state(check, basic_info.get("postcode"))
    if state is not None:
        basic_info["state"] = state
    description = check.texts.get("description", "")
    if description and "description" not in check.too_long:
        basic_info["description"] = description
    return basic_info


def _address(check: _RowCheck) -> str | None:
    address = check.texts.get("address", "")
    if not address:
        check.error("address", "is required")
    elif len(address) < MIN_ADDRESS_LENGTH:
        check.error("address", f"must be longer than 5 characters, got {address!r}")
    elif "address" not in check.too_long:
        return address
    return None


def _suburb(check: _RowCheck) -> str | None:
    suburb = check.texts.get("suburb", "")
    if not suburb:
        check.error("suburb", "is required")
    elif "suburb" in check.too_long:
        pass
    elif not _is_suburb_name(suburb):
        check.error(
            "suburb",
            "may hold only letters, spaces, apostrophes, hyphens and full stops, "
            f"got {_shorten(suburb)!r}",
        )
    else:
        return suburb
    return None


def _postcode_of(check: _RowCheck) -> str | None:
    if not check.texts.get("postcode", ""):
        check.error("postcode", "is required")
        return None
    try:
        return _postcode(check.cells.get("postcode"))
    except _Invalid as exc:
        check.error("postcode", str(exc))
        return None


def _state(check: _RowCheck, postcode: str | None) -> str | None:
    state = check.texts.get("state", "").upper()
    if state:
        if state in STATES:
            return state
        check.error("state", f"must be one of {', '.join(sorted(STATES))}, got {_shorten(state)!r}")
        return None
    if postcode is not None:
        # Exports such as the Melbourne housing data carry no state; the postcode names it.
        return state_for_postcode(postcode) or None
    return None


# financial_metrics and planning_controls ----------------------------------------------------


def _financial_metrics(check: _RowCheck) -> tuple[dict, float | None]:
    """The estimated value, and the number the value-per-area rule reads (None if invalid)."""
    financial_metrics: dict = {}
    try:
        value = _number(check.cells.get("estimatedvalue"), name="estimated value")
    except _Invalid as exc:
        check.error("estimatedvalue", str(exc))
        return financial_metrics, None
    if value is None:
        return financial_metrics, None
    if 0 < value < MAX_ESTIMATED_VALUE:
        financial_metrics["estimated_value"] = _as_json_number(value)
        return financial_metrics, value
    check.error(
        "estimatedvalue",
        f"must be more than 0 and less than {MAX_ESTIMATED_VALUE:,}, got {value:,.0f}",
    )
    return financial_metrics, None


def _planning_controls(check: _RowCheck) -> tuple[dict, float | None]:
    """Land area and zoning, and the land area the value-per-area rule reads."""
    planning_controls: dict = {}
    land_area = None
    try:
        land_area = _number(check.cells.get("landarea"), name="land area")
    except _Invalid as exc:
        check.error("landarea", str(exc))
    if land_area is not None:
        if land_area < 0:
            check.error("landarea", f"must not be negative, got {land_area:g}")
            land_area = None
        elif land_area == 0:
            # Real exports write 0 for "unknown" (14% of the Melbourne snapshot); storing it
            # would poison every per-area figure, so it is left out.
            land_area = None
        else:
            planning_controls["land_area"] = _as_json_number(land_area)
    zoning = check.texts.get("zoning", "")
    if zoning and "zoning" not in check.too_long:
        planning_controls["zoning"] = {"primary": zoning}
    return planning_controls, land_area


def _check_value_per_area(check: _RowCheck, value, land_area) -> None:
    if value is None or land_area is None:
        return
    low, high = VALUE_PER_AREA_RANGE
    ratio = value / land_area
    if not low <= ratio <= high:
        check.error(
            "estimatedvalue",
            f"value per square metre of land ({ratio:,.2f}) must be between {low:,} and {high:,}",
        )


def merge_groups(current: dict, imported: dict) -> dict:
    """The JSON groups after an update: imported keys replace, keys the file does not carry
    (an analyst's notes, environmental factors) stay."""
    return {group: {**(current.get(group) or {}), **values} for group, values in imported.items()}
