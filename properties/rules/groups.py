"""The property rules: one function per JSON group, run over a property's attributes keyed by
their normalised names (`address`, `estimatedvalue`, `lastsaledate`, ...), as an import row's
cells and the property form's fields both are.

Pure functions with no database access: every path that writes property data (file imports,
syncs, the admin's property form) calls `validate_attributes`, so all of them accept, flag and
reject exactly the same values.
"""

from dataclasses import dataclass, field

from ..limits import OverlongNumber, number_problem, text_problem
from ..models import derive_external_id
from ..postcodes import POSTCODE_RANGES, state_for_postcode
from . import values
from .findings import ERROR, Finding, RuleSettings

STATES = frozenset({"NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"})
MIN_ADDRESS_LENGTH = 6
MAX_TEXT_LENGTH = {"propertyid": 255, "address": 255, "suburb": 100, "zoning": 50}
MAX_DESCRIPTION_LENGTH = 2000
#: Values and prices from here up cannot be right; the integrity check shares the ceiling.
MAX_ESTIMATED_VALUE = 50_000_000
#: Fields written on one line: inner runs of blanks collapse to one space.
SINGLE_LINE_FIELDS = ("address", "suburb")
DEFAULT_SETTINGS = RuleSettings()
#: Where each attribute is stored, as `group.key` (the property's own column for the id): what
#: an import preview says of each column of the file.
STORED_AT = {
    "propertyid": "external_id",
    "address": "basic_info.address",
    "suburb": "basic_info.suburb",
    "state": "basic_info.state",
    "postcode": "basic_info.postcode",
    "description": "basic_info.description",
    "zoning": "planning_controls.zoning.primary",
    "landarea": "planning_controls.land_area",
    "estimatedvalue": "financial_metrics.estimated_value",
    "lastsaleprice": "financial_metrics.last_sale_price",
    "lastsaledate": "financial_metrics.last_sale_date",
    "latitude": "spatial_attributes.coordinates (latitude)",
    "longitude": "spatial_attributes.coordinates (longitude)",
    "coordinates": "spatial_attributes.coordinates",
}

_SUBURB_PUNCTUATION_DELETE = str.maketrans(dict.fromkeys(" '’-."))


@dataclass
class ValidRow:
    row: int
    external_id: str
    groups: dict = field(default_factory=dict)
    #: Findings of warning severity: the row is kept, and flagged.
    warnings: list = field(default_factory=list)


class _Check:
    """One property under validation: its cells, their texts and the findings so far."""

    __slots__ = ("cells", "findings", "row", "settings", "texts", "too_long")

    def __init__(self, cells: dict, row: int, settings: RuleSettings):
        self.cells = cells
        self.row = row
        self.settings = settings
        self.findings: list[Finding] = []
        self.texts: dict = {}
        self.too_long: set = set()

    def error(self, name: str, message: str, rule: str = "") -> None:
        self.findings.append(Finding(self.row, name, message, ERROR, rule or name))

    def flag(self, name: str, message: str, severity: str, rule: str) -> None:
        self.findings.append(Finding(self.row, name, message, severity, rule))

    def has_errors(self) -> bool:
        return any(finding.severity == ERROR for finding in self.findings)


def _storable_problem(cell) -> str | None:
    """Values no database can store (a NUL, a lone surrogate, NaN, a 5,000-digit number, an
    overlong cell) are errors here, so a preview counts them as rejected."""
    if type(cell) is str:
        return text_problem(cell)
    if isinstance(cell, (int, float, OverlongNumber)) and not isinstance(cell, bool):
        return number_problem(cell)
    return None


def validate_attributes(
    cells: dict, *, row: int = 0, settings: RuleSettings = DEFAULT_SETTINGS
) -> tuple[dict | None, list[Finding]]:
    """Check a property's attributes against every rule.

    Returns the JSON groups (None when any error stands) and every finding, errors and
    warnings, in rule order (never only the first)."""
    check = _Check(cells, row, settings)
    for name, cell in cells.items():
        if isinstance(cell, (dict, list)):
            check.error(name, "must be a plain value, not a list or object", "plain_value")
        elif (problem := _storable_problem(cell)) is not None:
            check.error(name, problem, "storable_value")
    if check.findings:
        return None, check.findings
    # Each cell's text once: most rules below read it, some twice.
    texts = {name: values.text(cell) for name, cell in cells.items()}
    for name in SINGLE_LINE_FIELDS:
        if name in texts:
            texts[name] = values.single_line(texts[name])
    check.texts = texts
    _check_lengths(check)

    basic_info = _basic_info(check)
    financial_metrics, value = _financial_metrics(check)
    planning_controls, land_area = _planning_controls(check)
    _check_value_per_area(check, value, land_area)
    point = _coordinates(check)
    if check.has_errors():
        return None, check.findings
    groups = {"basic_info": basic_info}
    if planning_controls:
        groups["planning_controls"] = planning_controls
    if financial_metrics:
        groups["financial_metrics"] = financial_metrics
    if point is not None:
        groups["spatial_attributes"] = {"coordinates": point}
    return groups, check.findings


def validate_row(
    cells: dict, *, row: int, settings: RuleSettings = DEFAULT_SETTINGS
) -> tuple[ValidRow | None, list[Finding]]:
    """One import row (cells keyed by normalised column name): the transformed row with its
    warnings, or None and the row's errors."""
    groups, findings = validate_attributes(cells, row=row, settings=settings)
    if groups is None:
        return None, [finding for finding in findings if finding.severity == ERROR]
    external_id = values.single_line(values.text(cells.get("propertyid"))) or derive_external_id(
        groups["basic_info"]
    )
    return ValidRow(row=row, external_id=external_id, groups=groups, warnings=findings), []


def _check_lengths(check: _Check) -> None:
    texts = check.texts
    for name, limit in MAX_TEXT_LENGTH.items():
        if len(texts.get(name, "")) > limit:
            check.error(name, f"is longer than {limit} characters", "length")
    if len(texts.get("description", "")) > MAX_DESCRIPTION_LENGTH:
        check.error("description", f"is longer than {MAX_DESCRIPTION_LENGTH} characters", "length")
    check.too_long = {finding.field for finding in check.findings}


# basic_info ---------------------------------------------------------------------------------


def _basic_info(check: _Check) -> dict:
    basic_info: dict = {}
    for name, value in (
        ("address", _address(check)),
        ("suburb", _suburb(check)),
        ("postcode", _postcode(check)),
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


def _address(check: _Check) -> str | None:
    address = check.texts.get("address", "")
    if not address:
        check.error("address", "is required")
    elif len(address) < MIN_ADDRESS_LENGTH:
        check.error("address", f"must be longer than 5 characters, got {address!r}")
    elif "address" not in check.too_long:
        return address
    return None


def _is_suburb_name(text: str) -> bool:
    # Letters of any script (É, ü), plus the punctuation of real names such as "O'Connor",
    # "St. Kilda East" and "Yarra-Glen"; no digits or other symbols. Deleting the punctuation
    # and asking str.isalpha() once is the same test as a walk, and cheaper (docs/imports.md).
    return text[0].isalpha() and text.translate(_SUBURB_PUNCTUATION_DELETE).isalpha()


def _suburb(check: _Check) -> str | None:
    suburb = check.texts.get("suburb", "")
    if not suburb:
        check.error("suburb", "is required")
    elif "suburb" in check.too_long:
        pass
    elif not _is_suburb_name(suburb):
        check.error(
            "suburb",
            "may hold only letters, spaces, apostrophes, hyphens and full stops, "
            f"got {values.shorten(suburb)!r}",
        )
    else:
        return suburb
    return None


def _postcode(check: _Check) -> str | None:
    if not check.texts.get("postcode", ""):
        check.error("postcode", "is required")
        return None
    try:
        return values.postcode(check.cells.get("postcode"))
    except values.Invalid as exc:
        check.error("postcode", str(exc))
        return None


def _state(check: _Check, postcode: str | None) -> str | None:
    state = check.texts.get("state", "").upper()
    if not state:
        # Exports such as the Melbourne housing data carry no state; the postcode names it.
        return (state_for_postcode(postcode) or None) if postcode is not None else None
    if state not in STATES:
        check.error(
            "state",
            f"must be one of {', '.join(sorted(STATES))}, got {values.shorten(state)!r}",
        )
        return None
    if postcode is not None and not any(
        low <= postcode <= high for low, high in POSTCODE_RANGES[state]
    ):
        ranges = ", ".join(f"{low}–{high}" for low, high in POSTCODE_RANGES[state])
        check.error(
            "postcode", f"{postcode} is not a {state} postcode ({ranges})", "postcode_in_state"
        )
    return state


# financial_metrics and planning_controls ----------------------------------------------------


def _money(check: _Check, name: str, label: str, key: str, group: dict) -> float | None:
    try:
        amount = values.number(check.cells.get(name), name=label)
    except values.Invalid as exc:
        check.error(name, str(exc), key)
        return None
    if amount is None:
        return None
    if 0 < amount < MAX_ESTIMATED_VALUE:
        group[key] = values.as_json_number(amount)
        return amount
    check.error(
        name,
        f"must be more than 0 and less than {MAX_ESTIMATED_VALUE:,}, got {amount:,.0f}",
        key,
    )
    return None


def _financial_metrics(check: _Check) -> tuple[dict, float | None]:
    """The value and sale, and the figure the value-per-area rule reads: the estimated value,
    else the last sale price (None if neither is valid)."""
    financial_metrics: dict = {}
    value = _money(check, "estimatedvalue", "estimated value", "estimated_value", financial_metrics)
    price = _money(check, "lastsaleprice", "last sale price", "last_sale_price", financial_metrics)
    try:
        sold = values.sale_date(check.cells.get("lastsaledate"))
    except values.Invalid as exc:
        check.error("lastsaledate", str(exc), "last_sale_date")
    else:
        if sold is not None:
            financial_metrics["last_sale_date"] = sold
    return financial_metrics, value if value is not None else price


def _planning_controls(check: _Check) -> tuple[dict, float | None]:
    """Land area and zoning, and the land area the value-per-area rule reads."""
    planning_controls: dict = {}
    land_area = None
    try:
        land_area = values.number(check.cells.get("landarea"), name="land area")
    except values.Invalid as exc:
        check.error("landarea", str(exc), "land_area")
    if land_area is not None:
        if land_area < 0:
            check.error("landarea", f"must not be negative, got {land_area:g}", "land_area")
            land_area = None
        elif land_area == 0:
            # Real exports write 0 for "unknown" (14% of the Melbourne snapshot); storing it
            # would poison every per-area figure, so it is left out.
            land_area = None
        else:
            planning_controls["land_area"] = values.as_json_number(land_area)
    zoning = check.texts.get("zoning", "")
    if zoning and "zoning" not in check.too_long:
        planning_controls["zoning"] = {"primary": zoning}
    return planning_controls, land_area


def value_per_area_outside(value, land_area, settings: RuleSettings) -> float | None:
    """The value per m² of land when it lies outside the organisation's bounds, else None.
    The one definition the import rule and the integrity check share."""
    if value is None or not land_area:
        return None
    ratio = value / land_area
    if settings.value_per_m2_min <= ratio <= settings.value_per_m2_max:
        return None
    return ratio


def _check_value_per_area(check: _Check, value, land_area) -> None:
    settings = check.settings
    ratio = value_per_area_outside(value, land_area, settings)
    if ratio is None:
        return
    # The land area is the figure in doubt more often than the price (a unit's share of its
    # block, hectares typed as m²), so the finding names it, with both numbers.
    check.flag(
        "landarea",
        f"{value:,.0f} on {land_area:,g} m² is {ratio:,.2f} per m², outside "
        f"{settings.value_per_m2_min:,}–{settings.value_per_m2_max:,}; check the land area",
        settings.value_per_m2_severity,
        "value_per_m2",
    )


def _coordinates(check: _Check):
    cells, texts = check.cells, check.texts
    if texts.get("coordinates"):
        parts = [part.strip() for part in texts["coordinates"].split(",")]
        if len(parts) != 2:
            check.error(
                "coordinates",
                f"must be 'lat,lng', got {values.shorten(texts['coordinates'])!r}",
                "coordinates",
            )
            return None
        lat_raw, lng_raw = parts
        field_lat = field_lng = "coordinates"
    else:
        lat_raw, lng_raw = cells.get("latitude"), cells.get("longitude")
        lat_text, lng_text = texts.get("latitude", ""), texts.get("longitude", "")
        if not lat_text and not lng_text:
            return None
        if not lat_text or not lng_text:
            missing = "latitude" if not lat_text else "longitude"
            check.error(missing, "is required when the other coordinate is given", "coordinates")
            return None
        field_lat, field_lng = "latitude", "longitude"
    try:
        lat = values.number(lat_raw, name="latitude")
        lng = values.number(lng_raw, name="longitude")
    except values.Invalid as exc:
        check.error(field_lat, str(exc), "coordinates")
        return None
    ok = True
    if not -90 <= lat <= 90:
        check.error(field_lat, f"latitude {lat} is outside -90..90", "coordinates")
        ok = False
    if not -180 <= lng <= 180:
        check.error(field_lng, f"longitude {lng} is outside -180..180", "coordinates")
        ok = False
    if not ok:
        return None
    return {
        "type": "Point",
        "coordinates": [values.as_json_number(lng), values.as_json_number(lat)],
    }


def merge_groups(current: dict, imported: dict) -> dict:
    """The JSON groups after an update: imported keys replace, keys the file does not carry
    (an analyst's notes, environmental factors) stay."""
    return {group: {**(current.get(group) or {}), **keys} for group, keys in imported.items()}


def is_blank(cells) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)
