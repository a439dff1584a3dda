import pytest

from properties.postcodes import state_for_postcode


@pytest.mark.parametrize(
    ("postcode", "state"),
    [
        ("3067", "VIC"),
        ("2000", "NSW"),
        ("2600", "ACT"),
        ("2619", "NSW"),
        ("2913", "ACT"),
        ("0870", "NT"),
        ("0200", "ACT"),
        ("7250", "TAS"),
        ("6160", "WA"),
        ("4005", "QLD"),
        ("5067", "SA"),
    ],
)
def test_each_state_is_found_from_its_postcode(postcode, state):
    assert state_for_postcode(postcode) == state


@pytest.mark.parametrize("postcode", ["0100", "312", "31210", "abcd", ""])
def test_a_postcode_outside_every_range_has_no_state(postcode):
    assert state_for_postcode(postcode) is None
