"""The outbox's triggers (docs/decisions/0021-outbox.md).

- After each INSERT statement on either ledger, its entries get an outbox row with no position,
  and the transaction a row in outbox_pendingcommit (once: ON CONFLICT DO NOTHING).
- That row's deferred constraint trigger fires at commit: under one advisory lock, held to the
  end of the commit, it numbers the transaction's rows from the position sequence. A later
  transaction takes the lock only after this one is visible, so positions follow commit order and
  a reader never sees a position while a lower one is still to commit.
- The outbox refuses DELETE, and any UPDATE but the numbering of an unnumbered row.
- outbox_backfill(office) adds, numbered, the entries written without the triggers: those before
  this migration, and the synthetic loader's (it writes in replica mode).

The functions are SECURITY DEFINER, owned by the schema's owner: the application role only reads
the outbox (branch_portal.db_roles), so its credentials cannot write the feed.
"""

from django.db import migrations

LOCK = 7_140_001  # the outbox's advisory lock: numbering, one transaction at a time

SQL = f"""
CREATE TABLE outbox_pendingcommit (txid xid8 PRIMARY KEY);
CREATE SEQUENCE outbox_position_seq AS bigint;

CREATE FUNCTION outbox_mark_pending() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    INSERT INTO outbox_pendingcommit (txid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING
$$;

CREATE FUNCTION outbox_add_loan_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO outbox_outboxentry (office_id, loan_entry_id)
        SELECT office_id, id FROM new_entries ORDER BY id;
    IF FOUND THEN PERFORM outbox_mark_pending(); END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION outbox_add_savings_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO outbox_outboxentry (office_id, savings_entry_id)
        SELECT office_id, id FROM new_entries ORDER BY id;
    IF FOUND THEN PERFORM outbox_mark_pending(); END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_loan_entries AFTER INSERT ON loans_loantransaction
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_add_loan_entries();
CREATE TRIGGER outbox_savings_entries AFTER INSERT ON savings_savingstransaction
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_add_savings_entries();

-- Only this transaction's rows are unnumbered in its snapshot: every other transaction numbered
-- its own before it committed.
CREATE FUNCTION outbox_number() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    first_position bigint;
    numbered bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK});
    first_position := nextval('outbox_position_seq');
    UPDATE outbox_outboxentry o SET position = first_position - 1 + p.n
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n
              FROM outbox_outboxentry WHERE position IS NULL) p
        WHERE o.id = p.id;
    GET DIAGNOSTICS numbered = ROW_COUNT;
    IF numbered > 1 THEN
        PERFORM setval('outbox_position_seq', first_position + numbered - 1);
    END IF;
    DELETE FROM outbox_pendingcommit WHERE txid = NEW.txid;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER outbox_number_at_commit AFTER INSERT ON outbox_pendingcommit
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION outbox_number();

CREATE FUNCTION outbox_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.position IS NULL AND NEW.position IS NOT NULL
       AND NEW.office_id = OLD.office_id
       AND NEW.loan_entry_id IS NOT DISTINCT FROM OLD.loan_entry_id
       AND NEW.savings_entry_id IS NOT DISTINCT FROM OLD.savings_entry_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The outbox is append-only: an entry is numbered once and never removed.'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER outbox_append_only BEFORE UPDATE OR DELETE ON outbox_outboxentry
    FOR EACH ROW EXECUTE FUNCTION outbox_guard();

-- The entries not yet in the outbox (of one office, or all), numbered in the order they were
-- posted; returns how many.
CREATE FUNCTION outbox_backfill(p_office bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    first_position bigint;
    added bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK});
    first_position := nextval('outbox_position_seq');
    INSERT INTO outbox_outboxentry (position, office_id, loan_entry_id, savings_entry_id)
    SELECT first_position - 1 + row_number() OVER (ORDER BY m.at, m.source, m.id),
           m.office_id, m.loan_id, m.savings_id
    FROM (
        SELECT t.office_id, t.id, t.id AS loan_id, NULL::bigint AS savings_id,
               t.posted_at AS at, 1 AS source
        FROM loans_loantransaction t
        WHERE (p_office IS NULL OR t.office_id = p_office)
          AND NOT EXISTS (SELECT 1 FROM outbox_outboxentry o WHERE o.loan_entry_id = t.id)
        UNION ALL
        SELECT s.office_id, s.id, NULL, s.id, s.created_at, 2
        FROM savings_savingstransaction s
        WHERE (p_office IS NULL OR s.office_id = p_office)
          AND NOT EXISTS (SELECT 1 FROM outbox_outboxentry o WHERE o.savings_entry_id = s.id)
    ) m;
    GET DIAGNOSTICS added = ROW_COUNT;
    IF added > 1 THEN
        PERFORM setval('outbox_position_seq', first_position + added - 1);
    END IF;
    RETURN added;
END $$;
REVOKE EXECUTE ON FUNCTION outbox_backfill(bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_mark_pending() FROM PUBLIC;

SELECT outbox_backfill(NULL);
"""

REVERSE = """
DROP TRIGGER outbox_loan_entries ON loans_loantransaction;
DROP TRIGGER outbox_savings_entries ON savings_savingstransaction;
DROP TRIGGER outbox_append_only ON outbox_outboxentry;
DROP TABLE outbox_pendingcommit;
DROP FUNCTION outbox_add_loan_entries(), outbox_add_savings_entries(), outbox_number(),
    outbox_guard(), outbox_backfill(bigint), outbox_mark_pending();
DROP SEQUENCE outbox_position_seq;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
