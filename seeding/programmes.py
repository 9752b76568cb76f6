"""The programmes' terms as the seeders read them: every ProgrammeRule (loans.0003 seeds them,
later decisions add dated ones), loaded once at the start of a seeding. A seeder draws its loans
under the rules the services enforce, without a query per loan and without a copy of its own.

What a seeder still chooses itself (the mix of programmes, the terms it draws from, the amounts
it aims at) is its choice, not a programme term; the terms are checked here against the rules.
"""

import bisect
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from loans.models import Programme, ProgrammeRule


@dataclass(frozen=True)
class Terms:
    """One rule's terms."""

    monthly_rate: Decimal  # % a month
    overdue_multiplier: Decimal  # of the rate, on overdue principal
    max_amount: int  # VND; per worker or per work where the programme's outcome counts them
    max_term_months: int


class ProgrammeTerms:
    """Each programme's rules by date, and its months between instalments."""

    def __init__(self) -> None:
        self.instalment_months: dict[str, int] = dict(
            Programme.objects.values_list("code", "instalment_months")
        )
        self._starts: dict[str, list[dt.date]] = {}
        self._terms: dict[str, list[Terms]] = {}
        rules = ProgrammeRule.objects.select_related("programme").order_by(
            "programme__code", "effective_from"
        )
        for rule in rules:
            code = rule.programme.code
            self._starts.setdefault(code, []).append(rule.effective_from)
            self._terms.setdefault(code, []).append(
                Terms(
                    monthly_rate=rule.monthly_rate,
                    overdue_multiplier=rule.overdue_multiplier,
                    max_amount=rule.max_amount,
                    max_term_months=rule.max_term_months,
                )
            )

    def on(self, code: str, day: dt.date) -> Terms:
        """The programme's terms in force on a day: its newest rule from that day or before (as
        loans' rule_on finds it)."""
        i = bisect.bisect_right(self._starts.get(code, []), day)
        if not i:
            raise LookupError(f"Programme {code} has no rule in force on {day.isoformat()}.")
        return self._terms[code][i - 1]

    def between(self, code: str, first: dt.date, last: dt.date) -> list[Terms]:
        """The terms of every rule of the programme in force on some day from first to last."""
        starts = self._starts.get(code, [])
        lo = max(0, bisect.bisect_right(starts, first) - 1)
        return self._terms.get(code, [])[lo : bisect.bisect_right(starts, last)]

    def refuse_longer_terms(
        self, choices: dict[str, list[int]], first: dt.date, last: dt.date
    ) -> None:
        """A seeder's choice of terms stays within the maximum term of every rule in force from
        first to last, so that no loan it draws is one the services would refuse."""
        for code, terms in choices.items():
            rules = self.between(code, first, last)
            if not rules:
                raise LookupError(f"Programme {code} has no rule in force from {first} to {last}.")
            shortest = min(rule.max_term_months for rule in rules)
            if max(terms) > shortest:
                raise ValueError(
                    f"{code}: the seeder draws terms up to {max(terms)} months; the programme's "
                    f"rules allow {shortest}."
                )
