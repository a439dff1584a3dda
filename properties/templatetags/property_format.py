"""How property values read on a page: money with thousands separators."""

from django import template

register = template.Library()


def format_money(value) -> str:
    """`$1,250,000` for 1250000, `$1,250,000.50` with cents; anything else as it is (a value
    nobody could read as a number is shown, not hidden)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if float(value).is_integer():
        return f"${value:,.0f}"
    return f"${value:,.2f}"


@register.filter
def money(value) -> str:
    return format_money(value)
