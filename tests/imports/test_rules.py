"""Every import rule, on the pure functions every import path shares (no database needed)."""

import math

import pytest

from imports.columns import ColumnMap, cells_by_column, map_columns, normalise_header
from imports.rules import merge_groups, validate_row
from properties.models import derive_external_id

VALID = {"address": "12/3 Chapel St", "suburb": "South Yarra", "postcode": "3141"}


def check(**cells):
    return validate_row({**VALID, **cells}, row=7)


def errors_of(**cells):
    valid, errors = check(**cells)
    assert valid is None
    return {(error.field, error.row) for error in errors}, [error.message for error in errors]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Post Code", "postcode"),
        ("Estimated Value ($)", "estimatedvalue"),
        ("ADDRESS", "address"),
        ("price", "estimatedvalue"),
        ("Landsize", "landarea"),
        ("Lattitude", "latitude"),
        ("Longtitude", "longitude"),
        ("lat", "latitude"),
        ("lng", "longitude"),
        ("Property ID", "propertyid"),
        ("Rooms", "rooms"),
    ],
)
def test_headers_are_normalised_then_aliased(header, expected):
    assert normalise_header(header) == expected


def test_unknown_columns_are_ignored_and_listed_and_missing_required_named():
    column_map = map_columns(["Address", "Rooms", "Post Code", "SellerG", ""])
    assert column_map.positions == {"address": 0, "postcode": 2}
    assert column_map.ignored == ("Rooms", "SellerG")
    assert column_map.missing == ["suburb"]


def test_a_second_column_for_the_same_field_is_ignored_not_merged():
    column_map = map_columns(["Price", "Estimated value", "Address"])
    assert column_map.positions["estimatedvalue"] == 0
    assert column_map.ignored == ("Estimated value",)


def test_cells_by_column_reads_positions():
    column_map = ColumnMap(headers=("a", "b"), positions={"address": 1}, ignored=())
    assert cells_by_column(column_map, ["x", "1 Long Road"]) == {"address": "1 Long Road"}


def test_valid_row_transforms_into_json_groups_with_numbers():
    valid, errors = check(
        state="vic",
        estimatedvalue="$1,250,000",
        landarea="500.0",
        coordinates="-37.84, 144.99",
        zoning="GRZ1",
        description="Corner block",
        propertyid="ID-1",
    )
    assert errors == []
    assert valid.external_id == "ID-1"
    assert valid.groups == {
        "basic_info": {
            "address": "12/3 Chapel St",
            "suburb": "South Yarra",
            "postcode": "3141",
            "state": "VIC",
            "description": "Corner block",
        },
        "planning_controls": {"land_area": 500, "zoning": {"primary": "GRZ1"}},
        "financial_metrics": {"estimated_value": 1250000},
        "spatial_attributes": {"coordinates": {"type": "Point", "coordinates": [144.99, -37.84]}},
    }
    assert isinstance(valid.groups["financial_metrics"]["estimated_value"], int)


def test_external_id_without_propertyid_is_derived_from_the_normalised_address():
    first, _ = check()
    again, _ = validate_row(
        {"address": "12/3  chapel st", "suburb": "SOUTH YARRA", "postcode": 3141.0}, row=9
    )
    assert first.external_id == again.external_id == derive_external_id(first.groups["basic_info"])


@pytest.mark.parametrize("address", ["", "   ", None])
def test_address_is_required(address):
    fields, messages = errors_of(address=address)
    assert ("address", 7) in fields and "is required" in messages


@pytest.mark.parametrize("address", ["1 A St", "12 Ab"])
def test_address_must_be_longer_than_five_characters(address):
    valid, errors = check(address=address)
    assert (valid is not None) == (len(address) > 5)


@pytest.mark.parametrize(
    "suburb", ["O'Connor", "St. Kilda East", "Yarra-Glen", "Éowyn Heights", "Brunswick"]
)
def test_suburb_accepts_real_names(suburb):
    valid, errors = check(suburb=suburb)
    assert errors == [] and valid.groups["basic_info"]["suburb"] == suburb


@pytest.mark.parametrize("suburb", ["Richmond 2", "Kew@", "_Kew", "3121", "-Kew"])
def test_suburb_rejects_digits_and_symbols(suburb):
    fields, _ = errors_of(suburb=suburb)
    assert ("suburb", 7) in fields


def test_suburb_is_required():
    fields, _ = errors_of(suburb="")
    assert ("suburb", 7) in fields


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("3067", "3067"), (" 3067 ", "3067"), ("3067.0", "3067"), (3067.0, "3067"), (800, "0800")],
)
def test_postcode_four_digits_after_trimming(raw, stored):
    valid, errors = check(postcode=raw)
    assert errors == [] and valid.groups["basic_info"]["postcode"] == stored


@pytest.mark.parametrize("raw", ["306", "30670", "3O67", "3067.5", "", None])
def test_postcode_rejects_anything_else(raw):
    fields, _ = errors_of(postcode=raw)
    assert ("postcode", 7) in fields


@pytest.mark.parametrize("state", ["NSW", "vic", "Qld", "sa", "WA", "tas", "nt", "ACT"])
def test_state_any_case_of_the_eight_codes(state):
    valid, errors = check(state=state)
    assert errors == [] and valid.groups["basic_info"]["state"] == state.upper()


@pytest.mark.parametrize("state", ["Victoria", "NZ", "V1C"])
def test_state_rejects_other_values(state):
    fields, _ = errors_of(state=state)
    assert ("state", 7) in fields


@pytest.mark.parametrize(("postcode", "state"), [("3067", "VIC"), ("2600", "ACT"), ("0870", "NT")])
def test_a_missing_state_is_taken_from_the_postcode(postcode, state):
    valid, errors = check(state="", postcode=postcode)
    assert errors == [] and valid.groups["basic_info"]["state"] == state


def test_state_is_optional_when_the_postcode_names_none():
    valid, errors = check(state="", postcode="0100")
    assert errors == [] and "state" not in valid.groups["basic_info"]


def test_a_given_state_is_kept_even_when_the_postcode_disagrees():
    # The integrity check reports such rows; the import does not rewrite what the file says.
    valid, errors = check(state="NSW", postcode="3067")
    assert errors == [] and valid.groups["basic_info"]["state"] == "NSW"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("$1,250,000", 1250000), ("1480000.0", 1480000), (950000, 950000), ("0.5", 0.5)],
)
def test_estimated_value_accepted_forms(raw, stored):
    valid, errors = check(estimatedvalue=raw)
    assert errors == []
    assert valid.groups["financial_metrics"]["estimated_value"] == stored


@pytest.mark.parametrize("raw", ["0", "-5", "50000000", "75,000,000", "abc", "nan", "inf", True])
def test_estimated_value_rejects_out_of_range_and_non_numbers(raw):
    fields, _ = errors_of(estimatedvalue=raw)
    assert ("estimatedvalue", 7) in fields


def test_estimated_value_is_optional():
    valid, errors = check(estimatedvalue="")
    assert errors == [] and "financial_metrics" not in valid.groups


@pytest.mark.parametrize(
    ("value", "area", "ok"),
    [
        ("1000000", "100", True),
        ("1000000", "99", False),
        ("10000", "1000", True),
        ("9999", "1000", False),
    ],
)
def test_value_per_land_area_between_10_and_10000(value, area, ok):
    valid, errors = check(estimatedvalue=value, landarea=area)
    assert (errors == []) is ok
    if not ok:
        assert errors[0].field == "estimatedvalue" and "square metre" in errors[0].message


def test_land_area_zero_means_unknown_and_skips_the_ratio_rule():
    valid, errors = check(estimatedvalue="1480000", landarea="0.0")
    assert errors == [] and "planning_controls" not in valid.groups


def test_negative_land_area_is_rejected():
    fields, _ = errors_of(landarea="-3")
    assert ("landarea", 7) in fields


@pytest.mark.parametrize(
    "cells",
    [{"coordinates": "-37.8,144.9"}, {"latitude": "-37.8", "longitude": 144.9}],
)
def test_coordinates_become_a_geojson_point_lng_lat(cells):
    valid, errors = check(**cells)
    assert errors == []
    assert valid.groups["spatial_attributes"]["coordinates"] == {
        "type": "Point",
        "coordinates": [144.9, -37.8],
    }


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"coordinates": "-91,144"}, "coordinates"),
        ({"coordinates": "-37,181"}, "coordinates"),
        ({"coordinates": "-37.8"}, "coordinates"),
        ({"coordinates": "north,east"}, "coordinates"),
        ({"latitude": "-37.8"}, "longitude"),
        ({"latitude": "95", "longitude": "144"}, "latitude"),
    ],
)
def test_coordinates_out_of_range_or_malformed_are_rejected(cells, field):
    fields, _ = errors_of(**cells)
    assert (field, 7) in fields


def test_a_row_with_several_problems_reports_all_of_them():
    valid, errors = validate_row(
        {"address": "1 A", "suburb": "K3w", "postcode": "12", "state": "XX", "estimatedvalue": "0"},
        row=12,
    )
    assert valid is None
    assert {error.field for error in errors} == {
        "address",
        "suburb",
        "postcode",
        "state",
        "estimatedvalue",
    }
    assert all(error.row == 12 for error in errors)
    assert str(errors[0]).startswith("row 12, address:")


def test_numbers_are_never_nan_or_strings():
    valid, _ = check(estimatedvalue=" 1,000,000 ", landarea=250.0, coordinates="-37.5,145")
    for number in (
        valid.groups["financial_metrics"]["estimated_value"],
        valid.groups["planning_controls"]["land_area"],
        *valid.groups["spatial_attributes"]["coordinates"]["coordinates"],
    ):
        assert isinstance(number, (int, float)) and math.isfinite(number)


def test_over_long_text_and_nested_values_are_rejected():
    fields, _ = errors_of(address="x" * 300)
    assert ("address", 7) in fields
    fields, _ = errors_of(suburb=["Kew"])
    assert ("suburb", 7) in fields


def test_merge_groups_keeps_keys_the_file_does_not_carry():
    current = {"basic_info": {"address": "1 Old Rd", "note": "keep"}, "financial_metrics": {}}
    merged = merge_groups(current, {"basic_info": {"address": "1 New Rd"}})
    assert merged == {"basic_info": {"address": "1 New Rd", "note": "keep"}}
