import django.db.models
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("borrowers", "0005_admin_field_bounds")]

    operations = [
        migrations.AddField(
            model_name="office",
            name="first_business_date",
            field=django.db.models.DateField(
                editable=False, null=True, verbose_name="first business date"
            ),
        ),
    ]
