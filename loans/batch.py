"""A batch of postings in one transaction (a collection sheet: 60 lines, each two or three
operations): what each operation reads about its office and would read again unchanged — the
office row held, its closed months on the value date, its four-eyes policy — is read once.

Only inside `posting_batch()`, opened inside the transaction and closed with it. The facts cannot
change under it: the office row is held (FOR KEY SHARE) from the first check to the commit, and
a month close locks that row FOR UPDATE, so no month closes meanwhile; a policy edited in the
admin meanwhile counts from the next batch, as it would for an operation already in flight.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import transaction

_facts: ContextVar[dict[Any, Any] | None] = ContextVar("loan_posting_batch", default=None)


@contextmanager
def posting_batch() -> Iterator[None]:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("posting_batch() belongs inside the transaction that posts")
    token = _facts.set({})
    try:
        yield
    finally:
        _facts.reset(token)


def once(key: Any, read: Callable[[], Any]) -> Any:
    """read() outside a batch; inside one, its first result for `key`. A read that raises is
    not remembered (the next operation checks again, and is refused again)."""
    facts = _facts.get()
    if facts is None:
        return read()
    if key not in facts:
        facts[key] = read()
    return facts[key]
