"""The import's view of the property rules (`properties.rules`, the one rule set that file
imports, syncs and the admin's property form share), and the column helpers, so an import path
needs one module for both.

`validate_row(cells, *, row, settings=...)` keeps its signature: it returns the valid row (its
`warnings` the findings of warning severity) or None and the row's errors.
"""

from properties.rules import (
    ERROR,
    MAX_DESCRIPTION_LENGTH,
    MAX_ESTIMATED_VALUE,
    MAX_TEXT_LENGTH,
    MIN_ADDRESS_LENGTH,
    STATES,
    WARNING,
    Finding,
    RowError,
    RuleSettings,
    ValidRow,
    is_blank,
    merge_groups,
    validate_row,
)

from .columns import (
    KNOWN_COLUMNS,
    REQUIRED_COLUMNS,
    ColumnMap,
    cells_by_column,
    map_columns,
    normalise_header,
)

__all__ = [
    "ERROR",
    "KNOWN_COLUMNS",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_ESTIMATED_VALUE",
    "MAX_TEXT_LENGTH",
    "MIN_ADDRESS_LENGTH",
    "REQUIRED_COLUMNS",
    "STATES",
    "WARNING",
    "ColumnMap",
    "Finding",
    "RowError",
    "RuleSettings",
    "ValidRow",
    "cells_by_column",
    "is_blank",
    "map_columns",
    "merge_groups",
    "normalise_header",
    "validate_row",
]
