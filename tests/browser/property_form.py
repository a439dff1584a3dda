"""How a person fills in the property form, in one place.

Today's form shows each attribute group as a raw JSON text box; issue 11 item 1 replaces it with
one field per attribute. Only `fill_property_form` knows which: the flows say what they change
in the domain's terms (`estimated_value`, `postcode`, ...) and stay as they are.
"""

import json

from playwright.sync_api import Page

#: Where each attribute the flows change lives in today's JSON groups.
ATTRIBUTE_PATHS = {
    "address": ("basic_info", "address"),
    "suburb": ("basic_info", "suburb"),
    "state": ("basic_info", "state"),
    "postcode": ("basic_info", "postcode"),
    "zoning": ("planning_controls", "zoning", "primary"),
    "land_area": ("planning_controls", "land_area"),
    "estimated_value": ("financial_metrics", "estimated_value"),
    "last_sale_price": ("financial_metrics", "last_sale_price"),
    "last_sale_date": ("financial_metrics", "last_sale_date"),
}


def fill_property_form(page: Page, changes: dict) -> None:
    """Types `changes` ({attribute: value}) into the open property change form, keeping every
    other value as it is, without saving."""
    for attribute, value in changes.items():
        group, *keys = ATTRIBUTE_PATHS[attribute]
        box = page.locator(f"textarea[name='{group}']")
        document = json.loads(box.input_value() or "{}")
        node = document
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        box.fill(json.dumps(document, indent=2))


def save_property_form(page: Page) -> None:
    page.locator("input[name='_continue']").click()
