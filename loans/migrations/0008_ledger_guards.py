"""Guards on the ledger that hold for its owner too (docs/decisions/0010-two-database-roles.md).

- TRUNCATE is refused by a statement trigger: the append-only row trigger never sees a TRUNCATE.
  Only a session that sets branch_portal.allow_truncate (the test database's flush) gets through.
  branch_portal.db_roles puts the same trigger on every other insert-only table (the histories)
  after each migrate.
- An appended entry is checked at commit like a changed loan row: the loan's cached balances must
  equal what its ledger sums to, even when the transaction never touched the loan row. The check
  is per inserted entry and reads that loan's entries only (its index); the synthetic loader runs
  in replica mode, where it does not fire, and checks the whole office in one query instead.
"""

from django.db import migrations


SQL = """
CREATE FUNCTION loans_assert_cache_matches_ledger(p_loan bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE s record; l record;
BEGIN
  SELECT outstanding, overdue, frozen, disbursed INTO l FROM loans_loan WHERE id = p_loan;
  IF NOT FOUND THEN RETURN; END IF;
  SELECT COALESCE(SUM(d_outstanding), 0) AS o, COALESCE(SUM(d_overdue), 0) AS v,
         COALESCE(SUM(d_frozen), 0) AS f,
         COALESCE(SUM(CASE WHEN counted_kind <> 'disbursement' THEN 0
                           WHEN kind = 'reversal' THEN -amount ELSE amount END), 0) AS d
    INTO s FROM loans_loantransaction WHERE loan_id = p_loan;
  IF (s.o, s.v, s.f, s.d) IS DISTINCT FROM (l.outstanding, l.overdue, l.frozen, l.disbursed)
  THEN
    RAISE EXCEPTION 'loan % cached balances (%, %, %, %) differ from its ledger (%, %, %, %)',
      p_loan, l.outstanding, l.overdue, l.frozen, l.disbursed, s.o, s.v, s.f, s.d
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
END $$;

-- The loan row's trigger (0002) now calls the shared check.
CREATE OR REPLACE FUNCTION loans_cache_matches_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A deferred trigger sees NEW as it was at the event; the check reads the row at commit.
  PERFORM loans_assert_cache_matches_ledger(NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION loans_entry_cache_matches_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM loans_assert_cache_matches_ledger(NEW.loan_id);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entry_cache_matches_ledger
  AFTER INSERT ON loans_loantransaction
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION loans_entry_cache_matches_ledger();

CREATE FUNCTION bp_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF COALESCE(current_setting('branch_portal.allow_truncate', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '% is append-only: TRUNCATE is refused', TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Correct an entry with a reversal; nothing is deleted.';
END $$;

CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON loans_loantransaction
  FOR EACH STATEMENT EXECUTE FUNCTION bp_refuse_truncate();
"""

REVERSE = """
DROP TRIGGER IF EXISTS refuse_truncate ON loans_loantransaction;
DROP TRIGGER IF EXISTS ledger_entry_cache_matches_ledger ON loans_loantransaction;
DROP FUNCTION IF EXISTS loans_entry_cache_matches_ledger();
"""


def _reverse_sql() -> str:
    # The other insert-only tables got the truncate trigger from branch_portal.db_roles; the
    # loan row's trigger function goes back to 0002's body before the shared check is dropped.
    from importlib import import_module

    old = import_module("loans.migrations.0002_cache_matches_ledger").SQL
    old_function = old.split("CREATE CONSTRAINT TRIGGER")[0]
    return (
        REVERSE
        + """
DO $$ DECLARE t record; BEGIN
  FOR t IN SELECT tgrelid::regclass AS rel FROM pg_trigger WHERE tgname = 'refuse_truncate' LOOP
    EXECUTE format('DROP TRIGGER refuse_truncate ON %s', t.rel);
  END LOOP;
END $$;
DROP FUNCTION IF EXISTS bp_refuse_truncate();
"""
        + old_function
        + "DROP FUNCTION IF EXISTS loans_assert_cache_matches_ledger(bigint);"
    )


class Migration(migrations.Migration):
    dependencies = [("loans", "0007_amount_bounds")]
    operations = [migrations.RunSQL(SQL, _reverse_sql())]
