"""Pages of big lists without joining every row the database looks at."""

from django.db.models import QuerySet


class DeferredJoinQuerySet(QuerySet):
    """A slice first selects the page's ids by the list's index alone, then loads those rows with
    their joins and annotations ("deferred join"). Otherwise PostgreSQL builds, joins and
    discards every row before the offset (page 400 of a province's loans), and a filtered walk
    of the list's index fetches the table row of every entry it rejects: "nguyen thi" on the
    first page of a province's households read 90,000 rows to keep 26 (180 ms), where the ids
    alone come from the (office, search_name, id) index without touching the table (16 ms)."""

    def __getitem__(self, k):
        if not (isinstance(k, slice) and k.stop is not None and self._result_cache is None):
            return super().__getitem__(k)
        ids = list(QuerySet.__getitem__(self.values_list("pk", flat=True), k))
        if not ids:
            return []
        rows = {row.pk: row for row in super().filter(pk__in=ids)}
        return [rows[pk] for pk in ids if pk in rows]


def deferred_join(queryset: QuerySet) -> QuerySet:
    clone = queryset._chain()
    clone.__class__ = type(
        f"DeferredJoin{type(queryset).__name__}", (DeferredJoinQuerySet, type(queryset)), {}
    )
    return clone
