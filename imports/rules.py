"""The import rules: header normalisation, row validation and the transform into the JSON groups.

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

from properties.models import derive_external_id
from properties.postcodes import state_for_postcode

STATES = frozenset({"NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"})
REQUIRED_COLUMNS = ("address", "suburb", "postcode")
KNOWN_COLUMNS = frozenset(
    {
        "propertyid",
        "address",
        "suburb",
        "postcode",
        "state",
        "estimatedvalue",
        "landarea",
        "coordinates",
        "latitude",
        "longitude",
        "zoning",
        "description",
    }
)
# Real-world names for the columns above, after normalisation. The misspellings are Kaggle's
# Melbourne housing snapshot's own ("Lattitude", "Longtitude").
ALIASES = {
    "id": "propertyid",
    "externalid": "propertyid",
    "streetaddress": "address",
    "locality": "suburb",
    "town": "suburb",
    "postalcode": "postcode",
    "zip": "postcode",
    "zipcode": "postcode",
    "price": "estimatedvalue",
    "value": "estimatedvalue",
    "valuation": "estimatedvalue",
    "landsize": "landarea",
    "landareasqm": "landarea",
    "landaream2": "landarea",
    "lat": "latitude",
    "lattitude": "latitude",
    "lng": "longitude",
    "lon": "longitude",
    "long": "longitude",
    "longtitude": "longitude",
    "latlng": "coordinates",
    "zone": "zoning",
    "zoningcode": "zoning",
}

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


def normalise_header(name) -> str:
    """`Post Code` -> `postcode`, `Estimated Value ($)` -> `estimatedvalue`, then the alias."""
    key = re.sub(r"[^0-9a-z]", "", str(name if name is not None else "").lower())
    return ALIASES.get(key, key)


@dataclass(frozen=True)
class ColumnMap:
    """Which position of the file's rows holds which known column."""

    headers: tuple[str, ...]
    positions: dict[str, int]
    ignored: tuple[str, ...]

    @property
    def missing(self) -> list[str]:
        return [name for name in REQUIRED_COLUMNS if name not in self.positions]


def map_columns(headers) -> ColumnMap:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, raw in enumerate(headers):
        key = normalise_header(raw)
        if not key:
            # A blank header over an empty column (a trailing delimiter) is nothing to report.
            continue
        if key in KNOWN_COLUMNS and key not in positions:
            positions[key] = index
        else:
            ignored.append(str(raw).strip())
    return ColumnMap(
        headers=tuple(str(h or "") for h in headers), positions=positions, ignored=tuple(ignored)
    )


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


def validate_row(cells: dict, *, row: int) -> tuple[ValidRow | None, list[RowError]]:
    """Check one row (cells keyed by normalised column name) against every rule.

    Returns the transformed row, or None and every error of the row (never only the first).
    """
    errors: list[RowError] = []

    for name, cell in cells.items():
        if isinstance(cell, (dict, list)):
            errors.append(RowError(row, name, "must be a plain value, not a list or object"))
    if errors:
        return None, errors

    # Each cell's text once: most rules below read it, some twice.
    texts = {name: _text(cell) for name, cell in cells.items()}
    for name, limit in MAX_TEXT_LENGTH.items():
        if len(texts.get(name, "")) > limit:
            errors.append(RowError(row, name, f"is longer than {limit} characters"))
    if len(texts.get("description", "")) > MAX_DESCRIPTION_LENGTH:
        errors.append(
            RowError(row, "description", f"is longer than {MAX_DESCRIPTION_LENGTH} characters")
        )
    too_long = {error.field for error in errors}

    basic_info: dict = {}
    address = texts.get("address", "")
    if not address:
        errors.append(RowError(row, "address", "is required"))
    elif len(address) < MIN_ADDRESS_LENGTH:
        errors.append(
            RowError(row, "address", f"must be longer than 5 characters, got {address!r}")
        )
    elif "address" not in too_long:
        basic_info["address"] = address

    suburb = texts.get("suburb", "")
    if not suburb:
        errors.append(RowError(row, "suburb", "is required"))
    elif "suburb" in too_long:
        pass
    elif not _is_suburb_name(suburb):
        errors.append(
            RowError(
                row,
                "suburb",
                "may hold only letters, spaces, apostrophes, hyphens and full stops, "
                f"got {_shorten(suburb)!r}",
            )
        )
    else:
        basic_info["suburb"] = suburb

    if not texts.get("postcode", ""):
        errors.append(RowError(row, "postcode", "is required"))
    else:
        try:
            basic_info["postcode"] = _postcode(cells.get("postcode"))
        except _Invalid as exc:
            errors.append(RowError(row, "postcode", str(exc)))

    state = texts.get("state", "").upper()
    if state:
        if state in STATES:
            basic_info["state"] = state
        else:
            errors.append(
                RowError(
                    row,
                    "state",
                    f"must be one of {', '.join(sorted(STATES))}, got {_shorten(state)!r}",
                )
            )
    elif "postcode" in basic_info:
        # Exports such as the Melbourne housing data carry no state; the postcode names it.
        inferred = state_for_postcode(basic_info["postcode"])
        if inferred:
            basic_info["state"] = inferred

    description = texts.get("description", "")
    if description and "description" not in too_long:
        basic_info["description"] = description

    financial_metrics: dict = {}
    value = None
    try:
        value = _number(cells.get("estimatedvalue"), name="estimated value")
    except _Invalid as exc:
        errors.append(RowError(row, "estimatedvalue", str(exc)))
    if value is not None:
        if 0 < value < MAX_ESTIMATED_VALUE:
            financial_metrics["estimated_value"] = _as_json_number(value)
        else:
            errors.append(
                RowError(
                    row,
                    "estimatedvalue",
                    f"must be more than 0 and less than {MAX_ESTIMATED_VALUE:,}, got {value:,.0f}",
                )
            )
            value = None

    planning_controls: dict = {}
    land_area = None
    try:
        land_area = _number(cells.get("landarea"), name="land area")
    except _Invalid as exc:
        errors.append(RowError(row, "landarea", str(exc)))
    if land_area is not None:
        if land_area < 0:
            errors.append(RowError(row, "landarea", f"must not be negative, got {land_area:g}"))
            land_area = None
        elif land_area == 0:
            # Real exports write 0 for "unknown" (14% of the Melbourne snapshot); storing it
            # would poison every per-area figure, so it is left out.
            land_area = None
        else:
            planning_controls["land_area"] = _as_json_number(land_area)

    zoning = texts.get("zoning", "")
    if zoning and "zoning" not in too_long:
        planning_controls["zoning"] = {"primary": zoning}

    if value is not None and land_area is not None:
        low, high = VALUE_PER_AREA_RANGE
        ratio = value / land_area
        if not low <= ratio <= high:
            errors.append(
                RowError(
                    row,
                    "estimatedvalue",
                    f"value per square metre of land ({ratio:,.2f}) must be between "
                    f"{low:,} and {high:,}",
                )
            )

    spatial_attributes: dict = {}
    point = _coordinates(cells, errors, row)
    if point is not None:
        spatial_attributes["coordinates"] = point

    if errors:
        return None, errors

    groups = {"basic_info": basic_info}
    if planning_controls:
        groups["planning_controls"] = planning_controls
    if financial_metrics:
        groups["financial_metrics"] = financial_metrics
    if spatial_attributes:
        groups["spatial_attributes"] = spatial_attributes
    external_id = texts.get("propertyid", "") or derive_external_id(basic_info)
    return ValidRow(row=row, external_id=external_id, groups=groups), []


def cells_by_column(column_map: ColumnMap, values) -> dict:
    return {
        name: values[index] if index < len(values) else None
        for name, index in column_map.positions.items()
    }


def merge_groups(current: dict, imported: dict) -> dict:
    """The JSON groups after an update: imported keys replace, keys the file does not carry
    (an analyst's notes, environmental factors) stay."""
    return {group: {**(current.get(group) or {}), **values} for group, values in imported.items()}
