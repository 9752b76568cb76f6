"""Period figures from a month-end snapshot plus what changed since (the "delta" method of
reports.selectors.figures_for_period), optionally shared out over parallel database sessions.

Two statements (reports/sql.py):

1. DELTA_SQL, per share of the loans (by loan id): the changed loans summed by breakdown key,
   and the loans that may change a customer count (they gained or lost a balance, or their
   keys changed);
2. CUSTOMERS_SQL, per share of the households: those loans' households recounted.

The snapshot's totals (MonthEndTotal) plus every share's results give every figure
(reports.sql.combine_sql): additive columns add, the customer counts add their difference. At a
million loans one session spends a second on a fortnight's changes; the shares run side by side
in sessions that import the caller's transaction snapshot (pg_export_snapshot), so they read
exactly what the caller would.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg2
from django.db import connection

from .sql import (
    CUSTOMER_COLUMNS,
    CUSTOMERS_SQL,
    DELTA_COLUMNS,
    DELTA_SQL,
    FLIP_COLUMNS,
    REPORT_SESSION_SQL,
    combine_sql,
)


def can_share() -> bool:
    """Whether other sessions would see what this one sees: not inside a savepoint (a snapshot
    cannot be exported from one) and nothing written by this transaction yet (they would not
    see it). Call before taking any lock: a row lock assigns a transaction id too."""
    if connection.savepoint_ids:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id_if_assigned() IS NULL")
        return cursor.fetchone()[0]


@contextmanager
def _sessions(count: int):
    """`count` cursors on new sessions that see this transaction's snapshot (count 1: this
    session's own cursor)."""
    if count == 1:
        with connection.cursor() as cursor:
            yield [cursor]
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        token = cursor.fetchone()[0]
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    opened = []
    try:
        for _n in range(count):
            session = psycopg2.connect(**params)
            opened.append(session)
            session.autocommit = True  # the transaction is begun by hand, snapshot first
            cursor = session.cursor()
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [token])
            cursor.execute(REPORT_SESSION_SQL)
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield [session.cursor() for session in opened]
    finally:
        for session in opened:
            session.close()


def _each(cursors, sql: str, params: dict) -> list:
    """Run `sql` on every cursor at once, share i of len(cursors); their rows in share order."""

    def run(share: int):
        cursor = cursors[share]
        cursor.execute(sql, {**params, "shares": len(cursors), "share": share})
        return cursor.fetchall()

    if len(cursors) == 1:
        return [run(0)]
    with ThreadPoolExecutor(len(cursors)) as pool:
        return list(pool.map(run, range(len(cursors))))


def _joined(parts: list) -> str:
    """Arrays (as text, '{…}' or None when empty) of several shares as one."""
    return "{" + ",".join(part[1:-1] for part in parts if part and part != "{}") + "}"


def _columns(rows: list, columns, *, prefix: str) -> dict:
    """Every share's one-row result of arrays() as the parameters of unnest()."""
    return {
        f"{prefix}_{name}": _joined([row[index] for row in rows])
        for index, (name, _kind) in enumerate(columns)
    }


def delta_figure_rows(*, params: dict, shares: int = 1) -> list[tuple]:
    """The figures rows (reports.sql.NAMED's shape) of a period from the snapshot
    params["snapshot"] plus what changed since, computed in `shares` sessions."""
    with _sessions(shares) as cursors:
        changed = [rows[0] for rows in _each(cursors, DELTA_SQL, params)]
        flips = _columns([row[len(DELTA_COLUMNS) :] for row in changed], FLIP_COLUMNS, prefix="f")
        # Tens of megabytes for a year to date: only the joined copy is kept.
        changed = [row[: len(DELTA_COLUMNS)] for row in changed]
        recounted = [rows[0] for rows in _each(cursors, CUSTOMERS_SQL, {**params, **flips})]
        del flips
        combined = dict(params)
        for share, (moved, counted) in enumerate(zip(changed, recounted, strict=True)):
            combined.update(_columns([moved], DELTA_COLUMNS, prefix=f"d{share}"))
            combined.update(_columns([counted], CUSTOMER_COLUMNS, prefix=f"c{share}"))
        cursor = cursors[0]
        if shares > 1:
            # A helper session's own setting: the planner sorted the sources by key for merge
            # joins, which took 100 ms more than hashing them.
            cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(combine_sql(shares), combined)
        return cursor.fetchall()
