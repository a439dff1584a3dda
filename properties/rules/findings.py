"""What the rules report, and the settings an organisation may change.

Every rule has a severity: an `ERROR` rejects the row (or refuses the form), a `WARNING` keeps
the row and flags it. `RULES` lists them all, for the documentation and the tests.
"""

import math
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)

#: Bounds of the value per square metre of land, and its severity, unless the organisation's
#: settings say otherwise (keys of `Organization.settings`).
VALUE_PER_AREA_SETTINGS = {
    "value_per_m2_min": 10,
    "value_per_m2_max": 10_000,
    "value_per_m2_severity": WARNING,
}


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one field of one row."""

    row: int
    field: str
    message: str
    severity: str = ERROR
    rule: str = ""

    def __str__(self):
        return f"row {self.row}, {self.field}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


#: The import-facing name of a finding (imports.rules.RowError).
RowError = Finding


@dataclass(frozen=True)
class RuleSettings:
    """The organisation's choices for the rules that have any."""

    value_per_m2_min: float = VALUE_PER_AREA_SETTINGS["value_per_m2_min"]
    value_per_m2_max: float = VALUE_PER_AREA_SETTINGS["value_per_m2_max"]
    value_per_m2_severity: str = VALUE_PER_AREA_SETTINGS["value_per_m2_severity"]

    @classmethod
    def of(cls, organization) -> "RuleSettings":
        """The settings of `organization` (None: the defaults). A setting that is not a usable
        value falls back to its default; `Organization.clean` refuses it at save."""
        stored = (getattr(organization, "settings", None) or {}) if organization else {}
        if not isinstance(stored, dict):
            return cls()
        values = {}
        for key in ("value_per_m2_min", "value_per_m2_max"):
            value = stored.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                values[key] = value
        if stored.get("value_per_m2_severity") in SEVERITIES:
            values["value_per_m2_severity"] = stored["value_per_m2_severity"]
        return cls(**values)


def settings_problems(stored: dict) -> list[str]:
    """Sentences for the organisation settings form: what is wrong with the rules' keys."""
    if not isinstance(stored, dict):
        return []  # Organization.clean says the settings must be an object
    problems = []
    for key in ("value_per_m2_min", "value_per_m2_max"):
        value = stored.get(key)
        if value is not None and (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            problems.append(f"{key} must be a number not below 0, got {value!r}.")
    low = stored.get("value_per_m2_min", VALUE_PER_AREA_SETTINGS["value_per_m2_min"])
    high = stored.get("value_per_m2_max", VALUE_PER_AREA_SETTINGS["value_per_m2_max"])
    if not problems and low > high:
        problems.append(
            f"value_per_m2_min ({low:,}) must not be above value_per_m2_max ({high:,})."
        )
    severity = stored.get("value_per_m2_severity")
    if severity is not None and severity not in SEVERITIES:
        problems.append(f"value_per_m2_severity must be 'error' or 'warning', got {severity!r}.")
    return problems


def settings_problem(stored: dict) -> str | None:
    """`settings_problems` as the one sentence an organisation settings check returns."""
    return " ".join(settings_problems(stored)) or None


@dataclass(frozen=True)
class Rule:
    name: str
    field: str
    severity: str
    description: str


RULES = (
    Rule("address", "address", ERROR, "required, longer than 5 characters"),
    Rule("suburb", "suburb", ERROR, "required; letters, spaces, apostrophes, hyphens, stops"),
    Rule("postcode", "postcode", ERROR, "required; exactly 4 digits"),
    Rule("state", "state", ERROR, "one of the eight codes; taken from the postcode if absent"),
    Rule("postcode_in_state", "postcode", ERROR, "the postcode lies in the state's ranges"),
    Rule("estimated_value", "estimatedvalue", ERROR, "0 < value < 50,000,000"),
    Rule("last_sale_price", "lastsaleprice", ERROR, "0 < price < 50,000,000"),
    Rule("last_sale_date", "lastsaledate", ERROR, "d/m/yyyy, yyyy-mm-dd, mm-yyyy, Excel serial"),
    Rule("land_area", "landarea", ERROR, "not negative; 0 means unknown"),
    Rule(
        "value_per_m2",
        "landarea",
        WARNING,
        "value (or sale price) per m² of land within the organisation's bounds",
    ),
    Rule("coordinates", "latitude", ERROR, "latitude -90..90, longitude -180..180, both or none"),
    Rule("length", "*", ERROR, "text no longer than its column"),
    Rule("plain_value", "*", ERROR, "a cell is a plain value, not a list or object"),
    Rule(
        "storable_value",
        "*",
        ERROR,
        "no NUL or lone surrogate, a finite number, within the field-length and digit limits",
    ),
)
