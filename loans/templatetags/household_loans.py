"""The loan part of the household page (borrowers:detail).

The household page belongs to borrowers, which does not import loans (dependencies point one
way: docs/architecture.md). Its loans and their ledger are read here, in loans, and drawn by
loans/_household_loans.html, which the page loads with `{% household_loans household %}`.
"""

from django import template

from loans.selectors import ledger_for_household, pending_requests_for

register = template.Library()


@register.inclusion_tag("loans/_household_loans.html", takes_context=True)
def household_loans(context, household) -> dict:
    return {
        **context.flatten(),
        "loans": household.loans.select_related("programme", "group").order_by("applied_on", "id"),
        "ledger": ledger_for_household(household).select_related("reversed_by", "approved_by"),
        "pending_requests": pending_requests_for(household=household),
    }
