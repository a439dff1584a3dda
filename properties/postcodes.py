"""Australian postcodes: which state each belongs to, by Australia Post's ranges."""

#: Inclusive ranges per state, as 4-digit strings (they compare like the numbers they spell).
POSTCODE_RANGES = {
    "NSW": [("1000", "1999"), ("2000", "2599"), ("2619", "2899"), ("2921", "2999")],
    "ACT": [("0200", "0299"), ("2600", "2618"), ("2900", "2920")],
    "VIC": [("3000", "3999"), ("8000", "8999")],
    "QLD": [("4000", "4999"), ("9000", "9999")],
    "SA": [("5000", "5999")],
    "WA": [("6000", "6999")],
    "TAS": [("7000", "7999")],
    "NT": [("0800", "0999")],
}


def state_for_postcode(postcode: str) -> str | None:
    """The state whose range holds `postcode` (4 digits), or None."""
    if len(postcode) != 4 or not postcode.isdigit():
        return None
    for state, ranges in POSTCODE_RANGES.items():
        if any(low <= postcode <= high for low, high in ranges):
            return state
    return None
