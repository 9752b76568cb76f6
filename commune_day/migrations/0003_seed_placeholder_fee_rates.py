"""Bank-wide placeholder rates for fees and commissions.

The bank's real rates are its own decisions and are not public: these are PLACEHOLDERS, for the
office to replace by adding its own rates from the month they apply (the rate pages, manager
only). They apply from January 2000 so that any month has a rate; their `decision` says what
they are.
"""

import datetime as dt
from decimal import Decimal

from django.db import migrations

FROM = dt.date(2000, 1, 1)
PLACEHOLDER = "Placeholder (seeded): the office sets the bank's rate"
COMMISSION_PERCENT = Decimal("18.00")
FEE_PERCENT = Decimal("8.00")
# (overdue ratio at most %, collection rate at least %, factor)
TIERS = [
    (Decimal("1.00"), Decimal("95.00"), Decimal("1.000")),
    (Decimal("2.00"), Decimal("90.00"), Decimal("0.900")),
    (Decimal("3.00"), Decimal("0.00"), Decimal("0.750")),
    (Decimal("100.00"), Decimal("0.00"), Decimal("0.500")),
]


def seed(apps, schema_editor):
    """Idempotent (tests put the rows back after a flush)."""
    commission = apps.get_model("commune_day", "CommissionRate")
    fee = apps.get_model("commune_day", "EntrustmentFeeRate")
    tier = apps.get_model("commune_day", "FeeTier")
    if not commission.objects.filter(office=None, effective_from=FROM).exists():
        commission.objects.create(
            effective_from=FROM, percent=COMMISSION_PERCENT, decision=PLACEHOLDER
        )
    if not fee.objects.filter(office=None, organisation=None, effective_from=FROM).exists():
        fee.objects.create(effective_from=FROM, percent=FEE_PERCENT, decision=PLACEHOLDER)
    for max_overdue, min_collection, factor in TIERS:
        tier.objects.get_or_create(
            office=None,
            effective_from=FROM,
            max_overdue_ratio=max_overdue,
            min_collection_rate=min_collection,
            defaults={"factor": factor, "decision": PLACEHOLDER},
        )


class Migration(migrations.Migration):
    dependencies = [("commune_day", "0002_fee_rates")]
    # The rows are append-only (the trigger refuses DELETE): unapplying drops them with the
    # tables in 0002.
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
