"""The outbox: every ledger and savings entry once, numbered at commit in commit order, so a
reader going on from its last position misses nothing and sees nothing twice, whatever commits
meanwhile (docs/decisions/0021-outbox.md)."""

import datetime as dt
import threading

import psycopg2
import pytest
from django.db import connection, transaction

from loans import services
from loans.models import LoanTransaction
from outbox.models import OutboxEntry
from outbox.selectors import entries_after, last_position
from savings import services as savings_services
from savings.models import SavingsTransaction

from ..conftest import key
from ..factories import HouseholdFactory

PAID_ON = dt.date(2021, 6, 10)


def _loan(household, hn, staff, manager):
    loan = services.loan_apply(
        household=household, programme=hn, amount=20_000_000, term_months=36,
        applied_on=dt.date(2021, 1, 5), user=staff, group=household.group,
    )  # fmt: skip
    services.loan_approve(loan=loan, user=manager, approved_on=dt.date(2021, 1, 10))
    services.loan_disburse(
        loan=loan, amount=20_000_000, value_date=dt.date(2021, 1, 15), user=staff,
        idempotency_key=key(),
    )  # fmt: skip
    loan.refresh_from_db()
    return loan


def _repay(loan, staff, amount=100_000):
    return services.loan_repay_principal(
        loan=loan, amount=amount, value_date=PAID_ON, user=staff, idempotency_key=key()
    )


def _feed(office_ids, after=0, limit=10_000):
    return entries_after(office_ids, after, limit)


def _everything() -> set[tuple[str, int]]:
    return {("loan", pk) for pk in LoanTransaction.objects.values_list("pk", flat=True)} | {
        ("savings", pk) for pk in SavingsTransaction.objects.values_list("pk", flat=True)
    }


def _key_of(item) -> tuple[str, int]:
    if isinstance(item, OutboxEntry):
        return (item.source, item.loan_entry_id or item.savings_entry_id)
    return (item["source"], item["id"])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_entry_is_numbered_once_at_commit_in_order(active_loan, staff_a, office_a):
    with transaction.atomic():
        entry = _repay(active_loan, staff_a)
        deposit = savings_services.savings_deposit(
            household=active_loan.household, amount=50_000, value_date=PAID_ON, user=staff_a,
            idempotency_key=key(),
        )  # fmt: skip
        # Inside the transaction the rows are there, unnumbered, and no reader sees them.
        unnumbered = OutboxEntry.objects.filter(position__isnull=True)
        assert {_key_of(o) for o in unnumbered} == {("loan", entry.pk), ("savings", deposit.pk)}
    feed = _feed([office_a.pk])
    assert {_key_of(o) for o in feed} == _everything()
    positions = [o["position"] for o in feed]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # The transaction's two entries are numbered together, in the order they were written.
    assert [_key_of(o) for o in feed[-2:]] == [("loan", entry.pk), ("savings", deposit.pk)]
    assert feed[-1]["position"] == feed[-2]["position"] + 1 == last_position()
    assert not OutboxEntry.objects.filter(position__isnull=True).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transaction_that_commits_later_comes_later_and_is_not_seen_before(
    active_loan, staff_a, manager_a, office_a, hn
):
    other = _loan(HouseholdFactory(group=active_loan.household.group), hn, staff_a, manager_a)
    seen = last_position()
    written, release, failures = threading.Event(), threading.Event(), []

    def slow_teller():
        try:
            with transaction.atomic():
                _repay(active_loan, staff_a)
                written.set()
                release.wait(10)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_teller)
    thread.start()
    assert written.wait(10)
    # Started first, committed second: the quick posting is numbered and visible at once.
    quick = _repay(other, staff_a)
    first_page = _feed([office_a.pk], after=seen)
    assert [_key_of(o) for o in first_page] == [("loan", quick.pk)]
    release.set()
    thread.join()
    assert failures == []
    second_page = _feed([office_a.pk], after=first_page[-1]["position"])
    assert len(second_page) == 1 and second_page[0]["source"] == "loan"
    assert second_page[0]["loan_number"] == active_loan.number
    assert second_page[0]["position"] > first_page[-1]["position"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_feed_returns_every_entry_exactly_once_while_postings_run(
    active_loan, staff_a, manager_a, office_a, hn
):
    loans = [active_loan] + [
        _loan(HouseholdFactory(group=active_loan.household.group), hn, staff_a, manager_a)
        for _ in range(3)
    ]
    done, failures, pages = threading.Event(), [], []
    start = threading.Barrier(len(loans) + 1)

    def teller(loan):
        try:
            start.wait()
            for n in range(6):
                if n % 3 == 2:
                    savings_services.savings_deposit(
                        household=loan.household, amount=10_000, value_date=PAID_ON,
                        user=staff_a, idempotency_key=key(),
                    )  # fmt: skip
                else:
                    _repay(loan, staff_a, amount=50_000 + n)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    def core_bank():
        after = 0
        try:
            start.wait()
            while True:
                finished = done.is_set()  # read before the page: a last full pass after it
                page = _feed([office_a.pk], after=after, limit=3)
                pages.append(page)
                if page:
                    after = page[-1]["position"]
                elif finished:
                    return
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    tellers = [threading.Thread(target=teller, args=(loan,)) for loan in loans]
    reader = threading.Thread(target=core_bank)
    for t in [*tellers, reader]:
        t.start()
    for t in tellers:
        t.join()
    done.set()
    reader.join()
    assert failures == []
    read = [o for page in pages for o in page]
    keys = [_key_of(o) for o in read]
    assert len(keys) == len(set(keys)), "an entry was read twice"
    assert set(keys) == _everything(), "an entry was missed"
    positions = [o["position"] for o in read]
    assert positions == sorted(positions)
    assert len(pages) > len(loans)  # the reader really read while the tellers posted


def test_the_outbox_is_append_only(active_loan):
    row = OutboxEntry.objects.first()
    for statement in (
        "UPDATE outbox_outboxentry SET position = position + 1000",
        "DELETE FROM outbox_outboxentry",
        f"UPDATE outbox_outboxentry SET office_id = office_id WHERE id = {row.pk}",
    ):
        with (
            pytest.raises(Exception, match="The outbox is append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)


def test_an_entry_joins_the_outbox_once(active_loan):
    entry = active_loan.transactions.first()
    with (
        pytest.raises(Exception, match="outbox_outboxentry_loan_entry_id_key"),
        transaction.atomic(),
    ):
        OutboxEntry.objects.create(office=active_loan.office, loan_entry=entry)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_application_role_reads_the_outbox_and_cannot_write_it(active_loan, app_role):
    conn = psycopg2.connect(**app_role)
    conn.autocommit = True
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM outbox_outboxentry WHERE position IS NOT NULL")
        assert cursor.fetchone()[0] == active_loan.transactions.count()
        for statement in (
            "INSERT INTO outbox_outboxentry (office_id, loan_entry_id) VALUES (1, 1)",
            "UPDATE outbox_outboxentry SET position = NULL",
            "DELETE FROM outbox_outboxentry",
            "SELECT outbox_backfill(NULL)",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute(statement)
    finally:
        conn.close()


def test_check_outbox_finds_an_entry_missing_from_the_feed(active_loan):
    from django.core.management import CommandError, call_command

    with connection.cursor() as cursor:
        # The test's transaction never commits: number its rows as a commit would.
        cursor.execute("SET CONSTRAINTS outbox_number_at_commit IMMEDIATE")
    call_command("check_outbox", office=active_loan.office.code)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # the guard off, as by hand
        cursor.execute("DELETE FROM outbox_outboxentry WHERE loan_entry_id IS NOT NULL")
        cursor.execute("SET session_replication_role = DEFAULT")
    with pytest.raises(CommandError, match="1 loan entries not in the outbox"):
        call_command("check_outbox")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_temporary_table_cannot_take_the_feeds_rows(active_loan, app_role):
    """The triggers' functions run as the owner with the schema first and pg_temp last: a
    temporary table named like the outbox, made by the application role, receives nothing."""
    conn = psycopg2.connect(**app_role)
    try:
        cursor = conn.cursor()
        cursor.execute(
            "CREATE TEMP TABLE outbox_outboxentry "
            "(LIKE public.outbox_outboxentry INCLUDING DEFAULTS)"
        )
        cursor.execute(
            "INSERT INTO loans_loantransaction (office_id, loan_id, kind, counted_kind, "
            "value_date, amount, d_outstanding, d_overdue, d_frozen, note, reference, "
            "idempotency_key, posted_at) SELECT office_id, loan_id, 'interest_payment', "
            "'interest_payment', value_date, 1, 0, 0, 0, '', '', 'shadow', now() "
            "FROM loans_loantransaction LIMIT 1"
        )
        cursor.execute("SELECT count(*) FROM pg_temp.outbox_outboxentry")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM public.outbox_outboxentry WHERE position IS NULL")
        assert cursor.fetchone()[0] == 1
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("SELECT nextval('public.outbox_position_seq')")
    finally:
        conn.rollback()
        conn.close()
