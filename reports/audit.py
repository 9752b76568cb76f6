"""The office log: what was entered, changed, requested, closed, run and imported in an office,
newest first: who did it, when, to what.

One SQL query is a UNION ALL of the sources, each read by when it was recorded in a bounded range
of days: the ledger by (office, posted_at) (index entry_office_posted), the pghistory event
tables by pgh_created_at (BRIN indexes), approval requests, ends of day and import batches by
their office. A page takes its rows with LIMIT/OFFSET from that query; a row's details (the
fields a change changed) are read for the rows of the page only (`AuditRows.__getitem__`).
"""

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from borrowers.models import (
    Commune,
    GroupMembership,
    Household,
    HouseholdCategory,
    PreviousIdentity,
    SavingsGroup,
)
from loans.models import Loan, LoanTransaction
from loans.models import TransactionKind as Kind

from .history import (
    ACTIONS,
    IGNORED,
    REQUEST_OUTCOMES,
    SOURCE_NAMES,
    Names,
    _diff,
    _public_name,
)

DEFAULT_DAYS = 7
MAX_DAYS = 366
# An export holds every row of the search, in the request: beyond this many the search is
# refused with a message to narrow it (a month of a big office's ledger is about 100,000 rows).
EXPORT_LIMIT = 100_000

RECORD_SOURCES = {
    "household": (Household, _("Household changes")),
    "loan": (Loan, _("Loan changes")),
    "membership": (GroupMembership, _("Group membership")),
    "previous_id": (PreviousIdentity, _("Citizen IDs")),
    "category": (HouseholdCategory, _("Category certifications")),
    "group": (SavingsGroup, _("Group changes")),
    "commune": (Commune, _("Commune changes")),
}
NAMES = {**SOURCE_NAMES, "group": _("Group"), "commune": _("Commune")}
OTHER_KINDS = {
    "request": _("Approval requests"),
    "month": _("Month close and reopen"),
    "end_of_day": _("End of day"),
    "import": _("Import batches"),
}
LABELS = {
    "month.closed": _("Month closed"),
    "month.reopened": _("Month reopened"),
    "end_of_day.run": _("End of day"),
    "import.run": _("Import batch"),
}
ACTION_OF_LABEL = {"insert": "created", "update": "changed", "delete": "deleted"}


def kind_choices() -> list[tuple[str, Any]]:
    entries = [("entry", _("Ledger entries"))]
    entries += [(f"entry.{value}", f"— {label}") for value, label in Kind.choices]
    records = [(key, label) for key, (_model, label) in RECORD_SOURCES.items()]
    return [*entries, *records, *OTHER_KINDS.items()]


@dataclass
class Search:
    office_id: int
    start: dt.date
    end: dt.date
    kind: str = ""
    user_id: int | None = None
    # The objects the search is narrowed to (a loan number, a citizen ID, a group code), when
    # one was given: the ids it stands for (possibly none).
    object_given: bool = False
    loan_ids: list[int] = field(default_factory=list)
    household_ids: list[int] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)

    def wants(self, source: str) -> bool:
        return not self.kind or self.kind == source or self.kind.startswith(source + ".")


def resolve_object(office_id: int, text: str) -> tuple[list[int], list[int], list[int]]:
    """The loans, households and groups of the office a typed object names: a loan number, a
    citizen ID (now or before; its household's loans too), a group code."""
    loans = list(Loan.objects.filter(office_id=office_id, number=text).values_list("pk", flat=True))
    households = list(
        Household.objects.filter(office_id=office_id, citizen_id=text).values_list("pk", flat=True)
    )
    households += list(
        Household.objects.filter(office_id=office_id, previous_ids__number=text).values_list(
            "pk", flat=True
        )
    )
    if households:
        loans += list(Loan.objects.filter(household_id__in=households).values_list("pk", flat=True))
    groups = list(
        SavingsGroup.objects.filter(office_id=office_id, code=text).values_list("pk", flat=True)
    )
    return sorted(set(loans)), sorted(set(households)), groups


# --- the query -----------------------------------------------------------------------------------

# Every branch gives: at, src ('entry', 'household', ...), pk (the row's or the event's id),
# kind (the entry kind, pghistory's label, the request's step), user_id, approved_by_id, loan_id,
# household_id, object (what it is about, in words), amount, value_date.
COLUMNS = (
    "at, src, pk, kind, user_id, approved_by_id, loan_id, household_id, object, amount, value_date"
)
CONTEXT_USER = "NULLIF(c.metadata->>'user', '')::bigint"


def _branches(s: Search) -> list[tuple[str, dict]]:
    """(SQL, params) for each source the search reads."""
    branches = []
    narrowed = s.object_given
    user_sql = "AND {col} = %(user)s" if s.user_id else ""
    if s.wants("entry"):
        kind = ""
        if s.kind.startswith("entry."):
            kind = "AND t.kind = %(entry_kind)s"
        obj = "AND t.loan_id = ANY(%(loans)s)" if narrowed else ""
        user = "AND (t.posted_by_id = %(user)s OR t.approved_by_id = %(user)s)" if s.user_id else ""
        branches.append(
            f"""SELECT t.posted_at, 'entry', t.id, t.kind, t.posted_by_id, t.approved_by_id,
                       t.loan_id, l.household_id, l.number, t.amount, t.value_date
                  FROM loans_loantransaction t JOIN loans_loan l ON l.id = t.loan_id
                 WHERE t.office_id = %(office)s AND t.posted_at >= %(from)s
                   AND t.posted_at < %(to)s {kind} {obj} {user}"""
        )
    for source, (model, _label) in RECORD_SOURCES.items():
        if not s.wants(source):
            continue
        table = apps.get_model(model._meta.app_label, f"{model._meta.object_name}Event")
        table = table._meta.db_table
        if source in ("household", "loan", "group", "commune"):
            office = "e.office_id = %(office)s"
            if source == "household":
                hh, obj_text, loan = "e.pgh_obj_id", "e.citizen_id", "NULL::bigint"
                obj = "AND e.pgh_obj_id = ANY(%(households)s)"
            elif source == "loan":
                hh, obj_text, loan = "e.household_id", "e.number", "e.pgh_obj_id"
                obj = "AND e.pgh_obj_id = ANY(%(loans)s)"
            elif source == "group":
                hh, obj_text, loan = "NULL::bigint", "e.code", "NULL::bigint"
                obj = "AND e.pgh_obj_id = ANY(%(groups)s)"
            else:
                hh, obj_text, loan = "NULL::bigint", "e.name", "NULL::bigint"
                obj = "AND false"
            join = ""
        else:
            office = "h.office_id = %(office)s"
            join = "JOIN borrowers_household h ON h.id = e.household_id"
            hh, obj_text, loan = "e.household_id", "h.citizen_id", "NULL::bigint"
            obj = "AND e.household_id = ANY(%(households)s)"
            if source == "membership":
                obj = "AND (e.household_id = ANY(%(households)s) OR e.group_id = ANY(%(groups)s))"
        branches.append(
            f"""SELECT e.pgh_created_at, '{source}', e.pgh_id, e.pgh_label, {CONTEXT_USER},
                       NULL::integer, {loan}, {hh}, {obj_text}::text, NULL::bigint, NULL::date
                  FROM {table} e {join}
                  LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id
                 WHERE {office} AND e.pgh_created_at >= %(from)s AND e.pgh_created_at < %(to)s
                   {obj if narrowed else ""} {user_sql.format(col=CONTEXT_USER)}"""
        )
    if s.wants("request"):
        obj = (
            "AND (r.loan_id = ANY(%(loans)s) OR r.household_id = ANY(%(households)s))"
            if narrowed
            else ""
        )
        for step, at, who in (
            ("'submitted'", "r.made_at", "r.maker"),
            ("r.status", "r.decided_at", "COALESCE(r.checker, r.maker)"),
        ):
            branches.append(
                f"""SELECT {at}, 'request', r.id, {step}, {who}, NULL::integer, r.loan_id,
                           COALESCE(r.household_id, l.household_id),
                           COALESCE(l.number, h.citizen_id, r.subject),
                           COALESCE(r.approved_amount, r.amount), NULL::date
                      FROM loans_approvalrequest r
                      LEFT JOIN loans_loan l ON l.id = r.loan_id
                      LEFT JOIN borrowers_household h ON h.id = r.household_id
                     WHERE r.office_id = %(office)s AND {at} >= %(from)s AND {at} < %(to)s
                       {obj} {user_sql.format(col=who)}"""
            )
    if not narrowed and s.wants("month"):
        table = apps.get_model("loans", "ClosedMonthEvent")._meta.db_table
        who = f"COALESCE({CONTEXT_USER}, e.closed_by_id)"
        branches.append(
            f"""SELECT e.pgh_created_at, 'month', e.pgh_id, e.pgh_label, {who}, NULL::integer,
                       NULL::bigint, NULL::bigint, to_char(e.month, 'MM/YYYY'), NULL::bigint,
                       e.month
                  FROM {table} e LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id
                 WHERE e.office_id = %(office)s AND e.pgh_created_at >= %(from)s
                   AND e.pgh_created_at < %(to)s {user_sql.format(col=who)}"""
        )
    if not narrowed and s.wants("end_of_day"):
        branches.append(
            f"""SELECT d.finished_at, 'end_of_day', d.id, 'run', d.run_by_id, NULL::integer,
                       NULL::bigint, NULL::bigint, to_char(d.day, 'DD/MM/YYYY'), d.amount_posted,
                       d.day
                  FROM loans_endofday d
                 WHERE d.office_id = %(office)s AND d.finished_at >= %(from)s
                   AND d.finished_at < %(to)s {user_sql.format(col="d.run_by_id")}"""
        )
    if not narrowed and s.wants("import"):
        branches.append(
            f"""SELECT b.started_at, 'import', b.id, 'run', b.run_by_id, NULL::integer,
                       NULL::bigint, NULL::bigint, b.files::text, b.entries::bigint, NULL::date
                  FROM loans_importbatch b
                 WHERE b.office_id = %(office)s AND b.started_at >= %(from)s
                   AND b.started_at < %(to)s {user_sql.format(col="b.run_by_id")}"""
        )
    return branches


def _params(s: Search) -> dict:
    tz = timezone.get_current_timezone()
    return {
        "office": s.office_id,
        "from": dt.datetime.combine(s.start, dt.time.min, tzinfo=tz),
        "to": dt.datetime.combine(s.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
        "user": s.user_id,
        "entry_kind": s.kind.removeprefix("entry."),
        "loans": s.loan_ids,
        "households": s.household_ids,
        "groups": s.group_ids,
    }


def _union(s: Search) -> str | None:
    branches = _branches(s)
    if not branches:
        return None
    body = "\nUNION ALL\n".join(f"({b})" for b in branches)
    return f"SELECT {COLUMNS} FROM (\n{body}\n) AS log ({COLUMNS})"


@dataclass
class AuditRow:
    at: dt.datetime
    src: str
    pk: int
    kind: str
    user_id: int | None
    approved_by_id: int | None
    loan_id: int | None
    household_id: int | None
    object: str | None
    amount: int | None
    value_date: dt.date | None
    user: str = ""
    approved_by: str = ""
    details: str = ""

    @property
    def event(self) -> str:
        if self.src == "entry":
            return str(Kind(self.kind).label) if self.kind in Kind.values else self.kind
        if self.src == "request":
            return str(REQUEST_OUTCOMES.get(self.kind, self.kind))
        if self.src == "month":
            return str(LABELS["month.closed" if self.kind == "insert" else "month.reopened"])
        if self.src in ("end_of_day", "import"):
            return str(LABELS[f"{self.src}.run"])
        action = ACTION_OF_LABEL.get(self.kind, self.kind)
        return f"{NAMES[self.src]}: {ACTIONS.get(action, action)}"


class AuditRows:
    """The search's rows as a sequence for django-tables2: a slice is one query with LIMIT and
    OFFSET (then the page's names and changes); the length is counted up to `count_limit` + 1
    at most (the table's pager says "more than" past it)."""

    def __init__(self, search: Search, *, count_limit: int):
        self.search = search
        self.sql = _union(search)
        self.params = _params(search)
        self.count_limit = count_limit
        self._len: int | None = None

    def _fetch(self, limit: int | None, offset: int = 0) -> list[AuditRow]:
        if self.sql is None:
            return []
        sql = f"{self.sql} ORDER BY at DESC, pk DESC"
        params = dict(self.params)
        if limit is not None:
            sql += " LIMIT %(limit)s OFFSET %(offset)s"
            params.update(limit=limit, offset=offset)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [AuditRow(*row) for row in cursor.fetchall()]
        _fill(rows)
        return rows

    def __getitem__(self, key):
        if isinstance(key, slice):
            start = key.start or 0
            limit = None if key.stop is None else max(0, key.stop - start)
            return self._fetch(limit, start)
        rows = self._fetch(1, key)
        if not rows:
            raise IndexError(key)
        return rows[0]

    def __iter__(self):
        return iter(self._fetch(None))

    def __len__(self) -> int:
        if self._len is None:
            self._len = self.count(self.count_limit + 1)
        return self._len

    def count(self, limit: int) -> int:
        if self.sql is None:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM ({self.sql} LIMIT %(limit)s) AS n",
                {**self.params, "limit": limit},
            )
            return cursor.fetchone()[0]


# --- a page's details ----------------------------------------------------------------------------


def _fill(rows: list[AuditRow]) -> None:
    """Names for the users, and for each record change the fields it changed (the event against
    the previous event of its row), read for these rows only."""
    users = {r.user_id for r in rows} | {r.approved_by_id for r in rows}
    users.discard(None)
    names_of = dict(get_user_model().objects.filter(pk__in=users).values_list("pk", "username"))
    for r in rows:
        r.user = names_of.get(r.user_id, "") if r.user_id else gettext("system")
        r.approved_by = names_of.get(r.approved_by_id, "") if r.approved_by_id else ""
    names = Names()
    pairs: dict[int, tuple] = {}
    for source, (model, _label) in RECORD_SOURCES.items():
        ids = [r.pk for r in rows if r.src == source]
        if not ids:
            continue
        event_model = apps.get_model(model._meta.app_label, f"{model._meta.object_name}Event")
        for event, previous in _with_previous(event_model, ids):
            key = (source, event["pgh_id"])
            pairs[key] = (model, previous, event)  # type: ignore[index]
            for snapshot in (event, previous or {}):
                for column, value in snapshot.items():
                    if column in Names.COLUMNS:
                        names.want(Names.COLUMNS[column], value)
    names.load()
    entries = {
        pk: _entry_words(reference, batch, reverses, note)
        for pk, reference, batch, reverses, note in LoanTransaction.objects.filter(
            pk__in=[r.pk for r in rows if r.src == "entry"]
        ).values_list("pk", "reference", "import_batch_id", "reverses_id", "note")
    }
    for r in rows:
        if r.src == "entry":
            r.details = entries.get(r.pk, "")
        found = pairs.get((r.src, r.pk))  # type: ignore[call-overload]
        if found is None:
            continue
        model, previous, event = found
        before, after = previous, event
        if r.kind == "delete":
            before, after = event, None
        elif r.kind == "insert":
            before = None
        diff = _diff(_columns_only(before), _columns_only(after))
        words = []
        for column, (old, new) in diff.items():
            table = Names.COLUMNS.get(column)
            old, new = (names.of(table, old), names.of(table, new)) if table else (old, new)
            if r.kind == "insert":
                words.append(f"{_public_name(column)}: {_text(new)}")
            else:
                words.append(f"{_public_name(column)}: {_text(old)} → {_text(new)}")
        r.details = "; ".join(words)


def _entry_words(reference: str, batch: int | None, reverses: int | None, note: str) -> str:
    words = [gettext("reverses #%(n)s") % {"n": reverses}] if reverses else []
    if batch:
        words.append(gettext("Imported (batch #%(n)s)") % {"n": batch})
    if reference:
        words.append(f"{gettext('Reference')}: {reference}")
    if note:
        words.append(note)
    return "; ".join(str(w) for w in words)


def _columns_only(snapshot: dict | None) -> dict | None:
    if snapshot is None:
        return None
    return {k: v for k, v in snapshot.items() if not k.startswith("pgh_") and k not in IGNORED}


def _text(value) -> str:
    if value is None or value == "":
        return "–"
    return str(value)


def _with_previous(event_model, ids: list[int]):
    """Each event (as a dict of its columns) with the previous event of the same row."""
    table = event_model._meta.db_table
    sql = f"""
        SELECT row_to_json(e)::jsonb, row_to_json(p)::jsonb
          FROM {table} e
          LEFT JOIN LATERAL (
            SELECT * FROM {table} p
             WHERE p.pgh_obj_id = e.pgh_obj_id AND p.pgh_id < e.pgh_id
             ORDER BY p.pgh_id DESC LIMIT 1
          ) p ON true
         WHERE e.pgh_id = ANY(%s)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        # Django leaves jsonb undecoded (psycopg2 gives text): decode it here.
        return [
            tuple(json.loads(v) if isinstance(v, str) else v for v in row)
            for row in cursor.fetchall()
        ]
