"""Savings on the pages of borrowers (the household page, the group page).

borrowers does not import savings (dependencies point one way: docs/architecture.md); its
templates load this library, which reads the savings here:

- `{% household_savings household %}` draws the household's savings card;
- `{% savings_balances_of members as savings %}` reads the members' balances in one query, and
  `{{ savings|savings_of:member.pk }}` picks one (0 for a member without savings).
"""

from django import template

from savings.selectors import entries_of, savings_balances

register = template.Library()

# The newest entries the household page shows; the ledger page has them all.
RECENT_ENTRIES = 5


@register.inclusion_tag("savings/_household_savings.html", takes_context=True)
def household_savings(context, household) -> dict:
    account = getattr(household, "savings_account", None) if household.pk else None
    return {
        **context.flatten(),
        "household": household,
        "account": account,
        "recent": list(entries_of(account)[:RECENT_ENTRIES]) if account else [],
    }


@register.simple_tag
def savings_balances_of(members) -> dict[int, int]:
    """Members (households, ids, or rows whose first item is the household): one query."""
    return savings_balances(_household_id(m) for m in members)


@register.filter
def savings_of(balances: dict[int, int], household_id) -> int:
    return balances.get(household_id, 0)


@register.filter
def savings_total(balances: dict[int, int]) -> int:
    return sum(balances.values())


def _household_id(member) -> int:
    if isinstance(member, tuple | list):
        member = member[0]
    return getattr(member, "pk", member)
