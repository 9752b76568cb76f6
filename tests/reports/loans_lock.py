"""Hold the loans table from another database session, so that a report build waits inside its
figures step for as long as a test needs (a province-sized step, without the province): the
build is really running and blocked, nothing in it is patched. The loans table rather than the
ledger, because the application's database role may UPDATE loans (their cached balances) and
so take the lock, where it may only SELECT and INSERT on the ledger."""

import contextlib

import psycopg2

from ..processes import test_database_url


@contextlib.contextmanager
def loans_held():
    """Until the block ends, no other session can read loans_loan (ACCESS EXCLUSIVE)."""
    session = psycopg2.connect(test_database_url())
    try:
        with session.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")
            cursor.execute("LOCK TABLE loans_loan IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        session.rollback()
        session.close()
