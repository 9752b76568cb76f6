from django.db import migrations

ORGANISATIONS = [
    ("women", "Hội Liên hiệp Phụ nữ", "Women's Union"),
    ("farmers", "Hội Nông dân", "Farmers' Association"),
    ("veterans", "Hội Cựu chiến binh", "Veterans' Association"),
    ("youth", "Đoàn Thanh niên", "Youth Union"),
]


def seed(apps, schema_editor):
    Organisation = apps.get_model("borrowers", "Organisation")
    for code, name, name_en in ORGANISATIONS:
        Organisation.objects.update_or_create(code=code, defaults={"name": name, "name_en": name_en})


def unseed(apps, schema_editor):
    apps.get_model("borrowers", "Organisation").objects.filter(
        code__in=[code for code, *_ in ORGANISATIONS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("borrowers", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
