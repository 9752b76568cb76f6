import django.db.models
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("borrowers", "0007_fill_first_business_date")]

    operations = [
        migrations.AlterField(
            model_name="office",
            name="first_business_date",
            field=django.db.models.DateField(editable=False, verbose_name="first business date"),
        ),
    ]
