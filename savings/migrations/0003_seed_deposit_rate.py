"""A placeholder demand-deposit rate for every office, 0.10 % a year from 2000 on, marked as a
placeholder: the office sets the bank's rate (docs/decisions/0014-member-savings.md)."""

import datetime as dt
from decimal import Decimal

from django.db import migrations

PLACEHOLDER_FROM = dt.date(2000, 1, 1)
PLACEHOLDER_RATE = Decimal("0.10")


def seed(apps, schema_editor):
    apps.get_model("savings", "DemandDepositRate").objects.get_or_create(
        office=None,
        effective_from=PLACEHOLDER_FROM,
        defaults={
            "annual_rate": PLACEHOLDER_RATE,
            "placeholder": True,
            "decision": "Placeholder: the office sets the bank's demand-deposit rate.",
        },
    )


def unseed(apps, schema_editor):
    apps.get_model("savings", "DemandDepositRate").objects.filter(
        office=None, effective_from=PLACEHOLDER_FROM, placeholder=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("savings", "0002_balance_matches_ledger")]
    operations = [migrations.RunPython(seed, unseed)]
