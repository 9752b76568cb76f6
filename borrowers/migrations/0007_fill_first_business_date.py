from django.db import migrations
from django.db.models import F


def fill_first_business_date(apps, schema_editor):
    """An office already at work started, as far as the system knows, at its business date:
    every day before it is history closed by the import (or paper)."""
    Office = apps.get_model("borrowers", "Office")
    Office.objects.update(first_business_date=F("business_date"))


class Migration(migrations.Migration):
    dependencies = [("borrowers", "0006_office_first_business_date")]

    operations = [migrations.RunPython(fill_first_business_date, migrations.RunPython.noop)]
