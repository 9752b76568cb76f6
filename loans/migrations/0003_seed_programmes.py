"""The eight credit programmes of a peri-urban district office, with their terms as of 2021
(domain.md) in force from 2015, and the later government decisions that changed them."""

import datetime as dt
from decimal import Decimal

from django.db import migrations

ALL = ["poor", "near_poor", "recently_out", "ordinary"]
M = 1_000_000

# code, name, English name, outcome, months between instalments
PROGRAMMES = [
    ("HN", "Cho vay hộ nghèo", "Poor households", "households", 6),
    ("HCN", "Cho vay hộ cận nghèo", "Near-poor households", "households", 6),
    ("HMTN", "Cho vay hộ mới thoát nghèo", "Households recently out of poverty", "households", 6),
    ("GQVL", "Cho vay giải quyết việc làm", "Job creation", "workers", 6),
    ("HSSV", "Cho vay học sinh sinh viên", "Students in difficult circumstances", "students", 6),
    ("NSVS", "Cho vay nước sạch và VSMT nông thôn", "Rural clean water and sanitation", "works", 6),
    ("XKLD", "Cho vay xuất khẩu lao động", "Workers going abroad under contract", "abroad", 6),
    ("NOXH", "Cho vay nhà ở xã hội", "Social housing", "houses", 12),
]

# code, effective from, rate, preferential rate, cap (per worker / per work where the outcome
# counts them), max term, eligible, applies to existing loans, decision
RULES = [
    ("HN", dt.date(2015, 1, 1), "0.55", None, 100 * M, 120, ["poor"], False, ""),
    ("HCN", dt.date(2015, 1, 1), "0.66", None, 100 * M, 120, ["near_poor"], False, ""),
    ("HMTN", dt.date(2015, 1, 1), "0.6875", None, 100 * M, 60, ["recently_out"], False, ""),
    ("GQVL", dt.date(2015, 1, 1), "0.66", "0.33", 100 * M, 120, ALL, False, ""),
    # 2.5 M per month of study, over up to 60 months of study.
    ("HSSV", dt.date(2015, 1, 1), "0.55", None, 150 * M, 120, ALL, False, ""),
    ("HSSV", dt.date(2022, 9, 1), "0.55", None, 240 * M, 120, ALL, False, "QĐ 1008/QĐ-TTg"),
    ("NSVS", dt.date(2015, 1, 1), "0.75", None, 10 * M, 60, ALL, False, ""),
    ("NSVS", dt.date(2024, 9, 1), "0.75", None, 25 * M, 60, ALL, False, "QĐ 10/2024/QĐ-TTg"),
    ("XKLD", dt.date(2015, 1, 1), "0.715", "0.55", 100 * M, 60, ALL, False, ""),
    ("NOXH", dt.date(2015, 1, 1), "0.5", None, 800 * M, 300, ALL, False, ""),
]


def seed(apps, schema_editor):
    Programme = apps.get_model("loans", "Programme")
    ProgrammeRule = apps.get_model("loans", "ProgrammeRule")
    for order, (code, name, name_en, outcome, months) in enumerate(PROGRAMMES):
        Programme.objects.update_or_create(
            code=code,
            defaults={"name": name, "name_en": name_en, "outcome": outcome,
                      "instalment_months": months, "sort_order": order},
        )
    for code, start, rate, pref, cap, term, eligible, existing, decision in RULES:
        ProgrammeRule.objects.update_or_create(
            programme=Programme.objects.get(code=code),
            effective_from=start,
            defaults={
                "monthly_rate": Decimal(rate),
                "preferential_rate": Decimal(pref) if pref else None,
                "max_amount": cap,
                "max_term_months": term,
                "eligible_categories": eligible,
                "applies_to_existing": existing,
                "decision": decision,
                "overdue_multiplier": Decimal("1.30"),
            },
        )


def unseed(apps, schema_editor):
    codes = [code for code, *_ in PROGRAMMES]
    apps.get_model("loans", "ProgrammeRule").objects.filter(programme__code__in=codes).delete()
    apps.get_model("loans", "Programme").objects.filter(code__in=codes).delete()


class Migration(migrations.Migration):
    dependencies = [("loans", "0002_cache_matches_ledger")]
    operations = [migrations.RunPython(seed, unseed)]
