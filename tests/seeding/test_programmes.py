"""The seeders read the programmes' terms from their rules (loans.0003), dated as the rules are."""

import datetime as dt
from decimal import Decimal

import pytest

from seeding.programmes import ProgrammeTerms

pytestmark = pytest.mark.django_db

M = 1_000_000


def test_the_terms_in_force_on_a_day():
    terms = ProgrammeTerms()
    assert terms.on("HMTN", dt.date(2021, 6, 15)).monthly_rate == Decimal("0.6875")
    assert terms.on("GQVL", dt.date(2021, 6, 15)).overdue_multiplier == Decimal("1.30")
    # QĐ 1008/QĐ-TTg raised the student cap from 1 September 2022.
    assert terms.on("HSSV", dt.date(2022, 8, 31)).max_amount == 150 * M
    assert terms.on("HSSV", dt.date(2022, 9, 1)).max_amount == 240 * M
    assert terms.instalment_months["NOXH"] == 12
    with pytest.raises(LookupError):
        terms.on("HN", dt.date(2014, 12, 31))


def test_a_term_above_a_rule_in_force_is_refused():
    terms = ProgrammeTerms()
    first, last = dt.date(2015, 1, 1), dt.date(2021, 6, 15)
    terms.refuse_longer_terms({"XKLD": [12, 60], "NOXH": [300]}, first, last)
    with pytest.raises(ValueError, match="XKLD"):
        terms.refuse_longer_terms({"XKLD": [72]}, first, last)
    with pytest.raises(LookupError):
        terms.refuse_longer_terms({"HN": [60]}, dt.date(2014, 1, 1), dt.date(2014, 12, 1))
