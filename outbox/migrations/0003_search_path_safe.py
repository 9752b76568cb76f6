"""The outbox's SECURITY DEFINER functions resolve names in the schema, then pg_temp last
(docs/decisions/0021-outbox.md). `SET search_path FROM CURRENT` had kept `"$user", public`, where
PostgreSQL searches the session's temporary schema first: a role with TEMPORARY could have
shadowed the outbox or its sequence with a temporary table and hidden entries from the feed."""

from django.db import migrations

FUNCTIONS = (
    "outbox_mark_pending()",
    "outbox_add_loan_entries()",
    "outbox_add_savings_entries()",
    "outbox_number()",
    "outbox_backfill(bigint)",
)

SQL = "DO $$ BEGIN\n" + "".join(
    f"EXECUTE format('ALTER FUNCTION %I.{f} SET search_path = %I, pg_temp', "
    "current_schema(), current_schema());\n"
    for f in FUNCTIONS
) + "END $$;"
REVERSE = "DO $$ BEGIN\n" + "".join(
    f"EXECUTE format('ALTER FUNCTION %I.{f} SET search_path = \"$user\", public', "
    "current_schema());\n"
    for f in FUNCTIONS
) + "END $$;"


class Migration(migrations.Migration):
    dependencies = [("outbox", "0002_triggers")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
