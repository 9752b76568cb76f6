"""A deferred constraint trigger: at commit, every loan whose cached balances changed must equal
what its ledger sums to. A service that changes the cache without posting fails at commit."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION loans_cache_matches_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE s record; l record;
BEGIN
  -- A deferred trigger sees NEW as it was at the event; compare the row as it is at commit.
  SELECT outstanding, overdue, frozen, disbursed INTO l FROM loans_loan WHERE id = NEW.id;
  IF NOT FOUND THEN RETURN NULL; END IF;
  SELECT COALESCE(SUM(d_outstanding), 0) AS o, COALESCE(SUM(d_overdue), 0) AS v,
         COALESCE(SUM(d_frozen), 0) AS f,
         COALESCE(SUM(CASE WHEN counted_kind <> 'disbursement' THEN 0
                           WHEN kind = 'reversal' THEN -amount ELSE amount END), 0) AS d
    INTO s FROM loans_loantransaction WHERE loan_id = NEW.id;
  IF (s.o, s.v, s.f, s.d) IS DISTINCT FROM (l.outstanding, l.overdue, l.frozen, l.disbursed)
  THEN
    RAISE EXCEPTION 'loan % cached balances (%, %, %, %) differ from its ledger (%, %, %, %)',
      NEW.id, l.outstanding, l.overdue, l.frozen, l.disbursed, s.o, s.v, s.f, s.d
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER loan_cache_matches_ledger
  AFTER INSERT OR UPDATE OF outstanding, overdue, frozen, disbursed ON loans_loan
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION loans_cache_matches_ledger();
"""

REVERSE = """
DROP TRIGGER IF EXISTS loan_cache_matches_ledger ON loans_loan;
DROP FUNCTION IF EXISTS loans_cache_matches_ledger();
"""


class Migration(migrations.Migration):
    dependencies = [("loans", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
