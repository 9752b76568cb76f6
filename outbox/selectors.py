"""Reading the outbox: the numbered entries after a position, of the offices asked for."""

from collections.abc import Iterable

from .models import OutboxEntry


def entries_after(office_ids: Iterable[int], after: int, limit: int) -> list[OutboxEntry]:
    """Up to `limit` entries of the offices with a position above `after`, in position order.

    Every numbered row is committed, and transactions commit in the order of their positions,
    so what a reader sees is always a prefix of the final feed: reading on from the last position
    seen misses nothing and repeats nothing."""
    return list(
        OutboxEntry.objects.filter(office_id__in=list(office_ids), position__gt=after)
        .order_by("position")
        .select_related(
            "office",
            "loan_entry__loan__programme",
            "loan_entry__loan__household",
            "savings_entry__account__household",
        )[:limit]
    )


def last_position() -> int:
    """The highest committed position (0 for an empty feed)."""
    row = OutboxEntry.objects.filter(position__isnull=False).order_by("-position").first()
    return row.position if row and row.position else 0
