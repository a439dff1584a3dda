"""Every import rule, on the pure functions every import path shares (no database needed)."""

import math
from datetime import datetime
from types import SimpleNamespace

import pytest

from imports.columns import ColumnMap, cells_by_column, map_columns, normalise_header
from imports.rules import RuleSettings, merge_groups, validate_row
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
    postcode = {"NSW": "2000", "QLD": "4000", "SA": "5000", "WA": "6000", "TAS": "7000"}
    postcode |= {"NT": "0800", "ACT": "2600", "VIC": "3141"}
    valid, errors = check(state=state, postcode=postcode[state.upper()])
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


def test_a_postcode_outside_the_given_states_ranges_is_an_error_beside_the_postcode():
    # The integrity check's postcode-in-state condition, refused at the door; never rewritten.
    fields, messages = errors_of(state="WA", postcode="2612")
    assert fields == {("postcode", 7)}
    assert messages == ["2612 is not a WA postcode (6000–6999)"]


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
def test_value_per_land_area_outside_10_to_10000_is_a_warning_on_the_land_area(value, area, ok):
    valid, errors = check(estimatedvalue=value, landarea=area)
    assert errors == [] and valid is not None  # kept
    if ok:
        assert valid.warnings == []
    else:
        (warning,) = valid.warnings
        assert (warning.field, warning.severity, warning.rule) == (
            "landarea",
            "warning",
            "value_per_m2",
        )
        assert "per m²" in warning.message and "check the land area" in warning.message


def test_value_per_land_area_bounds_and_severity_are_the_organisations_settings():
    strict = RuleSettings.of(
        SimpleNamespace(
            settings={
                "value_per_m2_min": 100,
                "value_per_m2_max": 500,
                "value_per_m2_severity": "error",
            }
        )
    )
    valid, errors = validate_row(
        {**VALID, "estimatedvalue": "90000", "landarea": "1000"}, row=3, settings=strict
    )
    assert valid is None and errors[0].field == "landarea" and "100–500" in errors[0].message
    valid, errors = validate_row(
        {**VALID, "estimatedvalue": "300000", "landarea": "1000"}, row=3, settings=strict
    )
    assert errors == [] and valid.warnings == []


def test_a_land_area_of_zero_skips_the_value_per_area_rule():
    valid, errors = check(estimatedvalue="1000000", landarea="0")
    assert errors == [] and valid.warnings == []
    assert "planning_controls" not in valid.groups


def test_a_sale_price_is_read_by_the_value_per_area_rule_without_a_valuation():
    valid, _ = check(lastsaleprice="1465000", landarea="134")
    assert valid.warnings[0].field == "landarea"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("3/12/2016", "2016-12-03"),
        ("03/12/2016", "2016-12-03"),
        ("2018-09-01", "2018-09-01"),
        ("09-2018\r", "2018-09"),
        ("2018-09", "2018-09"),
        (42707, "2016-12-03"),
        ("42707", "2016-12-03"),
        (datetime(2016, 12, 3, 0, 0), "2016-12-03"),
        ("NULL", None),
        ("", None),
    ],
)
def test_sale_dates_are_stored_as_iso(raw, stored):
    valid, errors = check(lastsaledate=raw)
    assert errors == []
    assert valid.groups.get("financial_metrics", {}).get("last_sale_date") == stored


@pytest.mark.parametrize("raw", ["31/2/2016", "13-2018", "yesterday", "1/1/16", 3.5])
def test_a_sale_date_that_is_not_a_date_is_an_error_beside_it(raw):
    fields, messages = errors_of(lastsaledate=raw)
    assert fields == {("lastsaledate", 7)}


def test_null_tokens_are_empty_cells():
    valid, errors = check(estimatedvalue="NULL", landarea="NULL", latitude="NULL", longitude="NULL")
    assert errors == [] and set(valid.groups) == {"basic_info"}


def test_line_breaks_of_a_description_are_kept_and_single_line_fields_collapse():
    valid, errors = check(
        description="  First line\r\n\n  second,  indented  \n",
        address=" 12/3   Chapel\nSt ",
        suburb="South   Yarra ",
        zoning=" GRZ 1 ",
    )
    assert errors == []
    basic = valid.groups["basic_info"]
    assert basic["description"] == "First line\n\n  second,  indented"
    assert basic["address"] == "12/3 Chapel St" and basic["suburb"] == "South Yarra"
    assert valid.groups["planning_controls"]["zoning"] == {"primary": "GRZ 1"}


def test_sales_columns_price_beside_a_date_is_the_sale_price_else_a_valuation():
    sales = map_columns(["Suburb", "Address", "Price", "Date", "Postcode"])
    assert sales.positions["lastsaleprice"] == 2 and sales.positions["lastsaledate"] == 3
    assert "estimatedvalue" not in sales.positions
    valuations = map_columns(["Suburb", "Address", "Price", "Postcode"])
    assert valuations.positions["estimatedvalue"] == 2
    both = map_columns(["address", "price", "date_sold", "valuation"])
    assert both.positions == {
        "address": 0,
        "lastsaleprice": 1,
        "lastsaledate": 2,
        "estimatedvalue": 3,
    }
    for header in ("Date", "Sale Date", "Sold", "date_sold"):
        assert normalise_header(header) == "lastsaledate"


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
