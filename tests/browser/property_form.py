"""How a person fills in the property form, in one place.

The form shows one field per attribute (issue 11 item 1): the flows say what they change in the
domain's terms (`estimated_value`, `postcode`, ...) and this helper types into the field of
that name, as a person would.
"""

from playwright.sync_api import Page

#: Attributes with a field of their own on the form (the state is a choice of the eight codes).
ATTRIBUTES = (
    "address",
    "suburb",
    "state",
    "postcode",
    "description",
    "zoning",
    "land_area",
    "estimated_value",
    "last_sale_price",
    "last_sale_date",
    "latitude",
    "longitude",
)


def fill_property_form(page: Page, changes: dict) -> None:
    """Types `changes` ({attribute: value}) into the open property change form, keeping every
    other value as it is, without saving."""
    for attribute, value in changes.items():
        if attribute not in ATTRIBUTES:
            raise KeyError(f"the property form has no field for {attribute!r}")
        if attribute == "state":
            page.locator("select[name='state']").select_option(str(value))
        else:
            page.locator(f"[name='{attribute}']").fill(str(value))


def field_error(page: Page, attribute: str):
    """The error list shown beside `attribute`'s field."""
    return page.locator(f".form-row.field-{attribute} .errorlist")


def save_property_form(page: Page) -> None:
    page.locator("input[name='_continue']").click()
