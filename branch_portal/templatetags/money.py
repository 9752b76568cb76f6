"""Money at the edges: Vietnamese formatting of integer VND (61.582.000.000 ₫, or 61.582 in
millions where a report works in millions)."""

from django import template

register = template.Library()


def group_thousands(value: int) -> str:
    sign = "-" if value < 0 else ""
    return sign + f"{abs(value):,}".replace(",", ".")


@register.filter
def vnd(value) -> str:
    """61582000000 → '61.582.000.000 ₫'."""
    if value is None or value == "":
        return ""
    return f"{group_thousands(int(value))} ₫"


@register.filter
def million(value) -> str:
    """61582000000 → '61.582' (whole millions, half up)."""
    if value is None or value == "":
        return ""
    value = int(value)
    rounded = (abs(value) + 500_000) // 1_000_000
    return group_thousands(-rounded if value < 0 else rounded)


@register.filter
def thousands(value) -> str:
    """8827 → '8.827'."""
    if value is None or value == "":
        return ""
    return group_thousands(int(value))
