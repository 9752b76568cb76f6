"""reports_prune_dimension_changes(): the breakdown-key change log no kept snapshot needs
(docs/decisions/0023-snapshot-pruning.md).

A report from snapshot S reads the changes logged by transactions S could not see (txid at or
after S.seen_xmin, not visible in S.seen). A change with a txid below every snapshot's seen_xmin
was committed before each of them was taken, so none needs it; with no snapshot at all, every
committed change is visible to any snapshot taken later. The table lock waits for a snapshot
being taken (it inserts its row before reading what it sees) and holds back the next one until
the prune has committed.

SECURITY DEFINER, owned by the schema's owner: the change log is insert-only for the application
role (decision 0010), whose scheduled task calls this. The search path is the schema, then pg_temp
last, so no temporary table can stand in for the log.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION reports_prune_dimension_changes() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    horizon bigint;
    removed bigint;
BEGIN
    LOCK TABLE reports_monthendsnapshot IN SHARE MODE;
    SELECT min(seen_xmin) INTO horizon FROM reports_monthendsnapshot;
    IF horizon IS NULL THEN
        DELETE FROM reports_dimensionchange;
    ELSE
        DELETE FROM reports_dimensionchange WHERE txid < horizon;
    END IF;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END $$;
DO $$ BEGIN
    EXECUTE format(
        'ALTER FUNCTION %I.reports_prune_dimension_changes() SET search_path = %I, pg_temp',
        current_schema(), current_schema()
    );
END $$;
"""

REVERSE = "DROP FUNCTION reports_prune_dimension_changes();"


class Migration(migrations.Migration):
    dependencies = [("reports", "0002_month_end_snapshots")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
