"""The savings ledger's guards in the database, as the loan ledger's (loans 0002 and 0008):

- a deferred constraint trigger compares, at commit, each account whose cached balance changed or
  that got an entry with what its ledger sums to: a code path (or raw SQL) that moves the one
  without the other fails at commit. It reads that account's entries only (their index);
- TRUNCATE is refused by loans' statement trigger, for the owner too (branch_portal.db_roles puts
  it again on every insert-only table after each migrate).
"""

from django.db import migrations

SQL = """
CREATE FUNCTION savings_assert_balance_matches_ledger(p_account bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE cached bigint; summed bigint;
BEGIN
  SELECT balance INTO cached FROM savings_savingsaccount WHERE id = p_account;
  IF NOT FOUND THEN RETURN; END IF;
  SELECT COALESCE(SUM(d_balance), 0) INTO summed
    FROM savings_savingstransaction WHERE account_id = p_account;
  IF cached IS DISTINCT FROM summed THEN
    RAISE EXCEPTION 'savings account % cached balance % differs from its ledger %',
      p_account, cached, summed USING ERRCODE = 'integrity_constraint_violation';
  END IF;
END $$;

CREATE FUNCTION savings_account_matches_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A deferred trigger sees NEW as it was at the event; the check reads the row at commit.
  PERFORM savings_assert_balance_matches_ledger(NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION savings_entry_matches_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM savings_assert_balance_matches_ledger(NEW.account_id);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER savings_account_matches_ledger
  AFTER INSERT OR UPDATE OF balance ON savings_savingsaccount
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION savings_account_matches_ledger();

CREATE CONSTRAINT TRIGGER savings_entry_matches_ledger
  AFTER INSERT ON savings_savingstransaction
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION savings_entry_matches_ledger();

CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON savings_savingstransaction
  FOR EACH STATEMENT EXECUTE FUNCTION bp_refuse_truncate();
"""

REVERSE = """
DROP TRIGGER IF EXISTS refuse_truncate ON savings_savingstransaction;
DROP TRIGGER IF EXISTS savings_entry_matches_ledger ON savings_savingstransaction;
DROP TRIGGER IF EXISTS savings_account_matches_ledger ON savings_savingsaccount;
DROP FUNCTION IF EXISTS savings_entry_matches_ledger();
DROP FUNCTION IF EXISTS savings_account_matches_ledger();
DROP FUNCTION IF EXISTS savings_assert_balance_matches_ledger(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("savings", "0001_initial"), ("loans", "0008_ledger_guards")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
