"""Bulk loading: PostgreSQL COPY of rows into a table, and ids reserved from a table's sequence.

The import and the synthetic office load 100,000 to 10,000,000 rows at a time; building that many
model instances for bulk_create costs more than the database's work, so they COPY plain tuples.
A row that points at another row written in the same load (a reversal at its entry, an entry at
its instalment) needs that row's id before either is written: `reserve_ids` gives a block.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

# COPY's text format (the default): tab between values, newline between rows, \N for NULL, and a
# backslash escapes; a value holding any of these is written escaped, every other value as is.
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Attempts at a block of consecutive ids before giving up (see reserve_ids).
RESERVE_ATTEMPTS = 10


def copy_value(value: Any) -> str:
    """A value as COPY's text format reads it back: None as NULL, booleans as t/f, dates and times
    in ISO 8601, text with its backslashes, tabs and line breaks escaped."""
    if isinstance(value, str):
        return value.translate(_ESCAPES) if _SPECIAL.search(value) else value
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    return str(value)


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (tuples in the order of columns) into table; return how many. The table's
    triggers and constraints apply as to any insert."""
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write("\t".join(map(copy_value, row)))
        buffer.write("\n")
        count += 1
    if count:
        copy_text(cursor, table, columns, buffer.getvalue())
    return count


def copy_text(cursor, table: str, columns: Sequence[str], text: str) -> None:
    """COPY rows already written in COPY's text format (values escaped by copy_value): the
    synthetic office formats ten million entries straight into one buffer."""
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(text))


def take_ids(cursor, table: str, n: int) -> list[int]:
    """Take n ids from the sequence of table's id column, in one statement, each one the table's
    own and in the order drawn; other sessions may take ids between them, so they need not be
    consecutive. For a load beside an office at work (the import): it never fails for them."""
    if n < 0:
        raise ValueError(f"cannot take {n} ids")
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s) AS i"
        " ORDER BY i",
        [table, n],
    )
    return [row[0] for row in cursor.fetchall()]


def reserve_ids(cursor, table: str, n: int) -> int:
    """Take n consecutive ids from the sequence of table's id column; return the first (0 when n
    is 0). Rows written with ids first, first + 1, ... first + n - 1 collide with no other insert.

    Only nextval is used, in one statement: setval needs UPDATE on the sequence, which the
    application role does not have (docs/decisions/0010), and a nextval followed by a setval
    leaves a moment in which another session's insert takes an id inside the block. When another
    session did take one while the block was being drawn, the block is not consecutive: it is
    left unused (a sequence has gaps anyway) and another is drawn, up to RESERVE_ATTEMPTS: this
    is for a loader that has its tables to itself (the synthetic office); one that loads beside
    clerks at work takes its ids with take_ids.
    """
    if n < 0:
        raise ValueError(f"cannot reserve {n} ids")
    if n == 0:
        return 0
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (sequence,) = cursor.fetchone()
    for _attempt in range(RESERVE_ATTEMPTS):
        cursor.execute(
            "SELECT min(id), max(id) FROM "
            "(SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)) AS block",
            [sequence, n],
        )
        first, last = cursor.fetchone()
        if last - first == n - 1:
            return first
    raise RuntimeError(
        f"No block of {n} consecutive ids from {table}'s sequence in {RESERVE_ATTEMPTS} attempts: "
        "other sessions kept inserting into the table meanwhile."
    )
