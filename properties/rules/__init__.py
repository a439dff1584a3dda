"""The one rule set for property data: what file imports, syncs and the admin's property form
all validate with (`validate_attributes`; `validate_row` for an import row).

- `values`: reading one cell (text, numbers, postcodes, sale dates);
- `groups`: the rules, one function per JSON group, and the transform into the groups;
- `analysis`: the rules of a property analysis (its JSON objects storable, its status agreeing
  with its results and times), for the admin's analysis form;
- `findings`: what a rule reports (`Finding`, with its severity), the organisation's settings
  (`RuleSettings.of(organization)`) and the list of rules (`RULES`).
"""

from .analysis import validate_analysis
from .findings import (
    ERROR,
    RULES,
    SEVERITIES,
    VALUE_PER_AREA_SETTINGS,
    WARNING,
    Finding,
    RowError,
    Rule,
    RuleSettings,
    settings_problem,
    settings_problems,
)
from .groups import (
    MAX_DESCRIPTION_LENGTH,
    MAX_ESTIMATED_VALUE,
    MAX_TEXT_LENGTH,
    MIN_ADDRESS_LENGTH,
    STATES,
    STORED_AT,
    ValidRow,
    is_blank,
    merge_groups,
    validate_attributes,
    validate_row,
    value_per_area_outside,
)

__all__ = [
    "ERROR",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_ESTIMATED_VALUE",
    "MAX_TEXT_LENGTH",
    "MIN_ADDRESS_LENGTH",
    "RULES",
    "SEVERITIES",
    "STATES",
    "STORED_AT",
    "VALUE_PER_AREA_SETTINGS",
    "WARNING",
    "Finding",
    "RowError",
    "Rule",
    "RuleSettings",
    "ValidRow",
    "is_blank",
    "merge_groups",
    "settings_problem",
    "settings_problems",
    "validate_analysis",
    "validate_attributes",
    "validate_row",
    "value_per_area_outside",
]
