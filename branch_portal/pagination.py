"""Deep pages of big lists without joining every skipped row."""

from django.db.models import QuerySet


class DeferredJoinQuerySet(QuerySet):
    """A slice with an offset first selects the page's ids by the list's index alone, then loads
    those rows with their joins and annotations ("deferred join"). PostgreSQL otherwise builds,
    joins and discards every row before the offset: page 400 of the loans of a province."""

    def __getitem__(self, k):
        if not (isinstance(k, slice) and (k.start or 0) > 0 and self._result_cache is None):
            return super().__getitem__(k)
        ids = list(QuerySet.__getitem__(self.values_list("pk", flat=True), k))
        rows = {row.pk: row for row in super().filter(pk__in=ids)}
        return [rows[pk] for pk in ids if pk in rows]


def deferred_join(queryset: QuerySet) -> QuerySet:
    clone = queryset._chain()
    clone.__class__ = type(
        f"DeferredJoin{type(queryset).__name__}", (DeferredJoinQuerySet, type(queryset)), {}
    )
    return clone
