"""The auditor's timeline of one household: every ledger entry of its loans, every recorded change
of the household, its loans, group memberships, previous citizen IDs and category
certifications (field by field, old → new), and every approval request with its outcome, in one
chronological list.

The changes come from the pghistory event tables: each event is a full snapshot of its row, so a
change is the difference between two consecutive events of the same row, and who made it is the
event's context (the request's user, recorded by pghistory's middleware; "system" for a command
or a task). Rows written before their table was tracked (memberships, previous IDs, categories
before borrowers/0009) show from their own columns (joined_on, replaced_on, recorded_at).

A household's history is small (a few loans, a few hundred entries each), so the whole of it is
read in a fixed number of queries (one per source, one for the names) and filtered in Python.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.models import (
    Category,
    GroupMembership,
    Household,
    HouseholdCategory,
    Office,
    PreviousIdentity,
    SavingsGroup,
    Sex,
    Village,
)
from branch_portal.templatetags.money import group_thousands
from loans.approvals import operation_title
from loans.models import ApprovalRequest, Loan, LoanStatus, LoanTransaction, Programme
from loans.models import TransactionKind as Kind

SYSTEM = "system"

# The families of events, for the kind filter: a ledger entry's kind is "entry.<kind>", a record
# change "<source>.<created|changed|deleted>", a request "request.<submitted|approved|...>".
SOURCES = {
    "entry": _("Ledger entries"),
    "household": _("Household changes"),
    "loan": _("Loan changes"),
    "membership": _("Group membership"),
    "previous_id": _("Citizen IDs"),
    "category": _("Category certifications"),
    "request": _("Approval requests"),
}
ACTIONS = {"created": _("created"), "changed": _("changed"), "deleted": _("deleted")}
SOURCE_NAMES = {
    "household": _("Household"),
    "loan": _("Loan"),
    "membership": _("Group membership"),
    "previous_id": _("Previous citizen ID"),
    "category": _("Category"),
}
REQUEST_OUTCOMES = {
    "submitted": _("Request submitted"),
    ApprovalRequest.Status.APPROVED: _("Request approved"),
    ApprovalRequest.Status.REJECTED: _("Request rejected"),
    ApprovalRequest.Status.WITHDRAWN: _("Request withdrawn"),
}

# Columns that say nothing to an auditor: keys, creation stamps, the household a child row
# belongs to (the page is about it), the form's double-submit key.
IGNORED = {
    "id",
    "created_at",
    "recorded_at",
    "search_name",
    "application_key",
    "household_id",
    "created_by_id",
}
# Amounts of VND, shown with the thousands separator.
AMOUNTS = {"approved_amount", "amount"}

# Choice fields whose stored code the page shows as its label.
CHOICES: dict[str, Any] = {
    "status": {
        **dict(ApprovalRequest.Status.choices),
        **dict(Household.Status.choices),
        **dict(LoanStatus.choices),
    },
    "sex": dict(Sex.choices),
    "category": dict(Category.choices),
}


@dataclass
class HistoryEvent:
    at: dt.datetime
    kind: str
    by: str | None = None
    approved_by: str | None = None
    value_date: dt.date | None = None
    amount: int | None = None
    loan_number: str | None = None
    reference: str | None = None
    reverses: int | None = None
    changes: dict[str, list] = field(default_factory=dict)
    # For the page, the PDF and the workbook, not the JSON:
    loan_id: int | None = None
    entry_id: int | None = None
    reversed_by: int | None = None
    batch: int | None = None
    batch_files: list[str] = field(default_factory=list)
    note: str = ""
    # The row predates its table's tracking: what shows is read from its own columns.
    untracked: bool = False
    # The tracked model, for the field labels of `changes`.
    model: Any = None
    # Sort key after `at`: the order it was recorded in.
    seq: tuple = ()

    @property
    def source(self) -> str:
        return self.kind.split(".", 1)[0]

    @property
    def label(self) -> str:
        source, _dot, action = self.kind.partition(".")
        if source == "entry":
            return str(Kind(action).label)
        if source == "request":
            return str(REQUEST_OUTCOMES.get(action, action))
        return f"{SOURCE_NAMES[source]}: {ACTIONS[action]}"

    def change_rows(self) -> list[tuple[str, str | None, str]]:
        """(field label, old, new) in words, for the page and the files; old is None for a row
        created (its values are shown alone, with no arrow)."""
        created = self.kind.endswith(".created")
        return [
            (field_label(self.model, name), None if created else shown(name, old), shown(name, new))
            for name, (old, new) in self.changes.items()
        ]

    def as_json(self) -> dict:
        return {
            "at": timezone.localtime(self.at).isoformat(),
            "kind": self.kind,
            "by": self.by,
            "approved_by": self.approved_by,
            "value_date": self.value_date.isoformat() if self.value_date else None,
            "amount": self.amount,
            "loan_number": self.loan_number,
            "reference": self.reference,
            "reverses": self.reverses,
            "changes": {name: [json_value(v) for v in pair] for name, pair in self.changes.items()},
        }


# Labels for the foreign keys whose models name them only by their field name.
FIELD_LABELS = {
    "office": _("Office"),
    "village": _("Village"),
    "programme": _("Programme"),
    "approved_by": _("Approved by"),
    "household": _("Household"),
    "group": _("Group"),
    "commune": _("Commune"),
    "transferred_from": _("Transferred from"),
    "created_by": _("Entered by"),
}


def field_label(model, name: str) -> str:
    if name in FIELD_LABELS:
        return str(FIELD_LABELS[name])
    if model is None:
        return name
    try:
        verbose = model._meta.get_field(name).verbose_name
    except Exception:  # a column of an older snapshot: its name is all there is
        return name
    text = str(verbose)
    return text[:1].upper() + text[1:]


def shown(name: str, value) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if name in AMOUNTS and isinstance(value, int):
        return group_thousands(value)
    if name in CHOICES and value in CHOICES[name]:
        return str(CHOICES[name][value])
    if name == "operation":
        return operation_title(value)
    return str(value)


def json_value(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- names for ids -------------------------------------------------------------------------------


class Names:
    """The names the timeline shows for foreign keys, each table read once for all the ids."""

    # Which table an id column points at, and what of it is shown.
    COLUMNS = {
        "group_id": "group",
        "village_id": "village",
        "office_id": "office",
        "counterparty_office_id": "office",
        "programme_id": "programme",
        "approved_by_id": "user",
        "recorded_by_id": "user",
        "transferred_from_id": "loan",
        "successor_id": "commune",
    }

    def __init__(self):
        self.wanted: dict[str, set] = {}
        self.names: dict[str, dict] = {}

    def want(self, table: str, pk) -> None:
        if pk is not None:
            self.wanted.setdefault(table, set()).add(pk)

    def load(self) -> None:
        readers = {
            "user": (get_user_model(), "username"),
            "group": (SavingsGroup, "code"),
            "village": (Village, "name"),
            "office": (Office, "code"),
            "programme": (Programme, "code"),
            "loan": (Loan, "number"),
        }
        for table, ids in self.wanted.items():
            if table in readers:
                model, name = readers[table]
                self.names[table] = dict(
                    model.objects.filter(pk__in=ids).values_list("pk", name)  # type: ignore[attr-defined]
                )

    def of(self, table: str, pk):
        if pk is None:
            return None
        return self.names.get(table, {}).get(pk, f"#{pk}")

    def user(self, pk) -> str | None:
        return self.of("user", pk)


# --- record changes from pghistory events --------------------------------------------------------


def _event_model(tracked) -> Any:
    return apps.get_model(tracked._meta.app_label, f"{tracked._meta.object_name}Event")


def _columns(event_model) -> list[str]:
    return [
        f.attname
        for f in event_model._meta.concrete_fields
        if not f.name.startswith("pgh_") and f.attname not in IGNORED
    ]


def _context_user(event) -> Any:
    context = event.pgh_context
    return (context.metadata or {}).get("user") if context is not None else None


@dataclass
class _RawChange:
    source: str
    tracked: Any
    event: Any
    before: dict | None
    after: dict | None
    action: str


def _record_changes(source: str, tracked, events) -> list[_RawChange]:
    """Consecutive events of each row, paired: an insert against nothing, an update against the
    row's previous snapshot, a delete (pghistory snapshots the row as it was) against nothing."""
    event_model = _event_model(tracked)
    columns = _columns(event_model)
    previous: dict[Any, dict] = {}
    changes = []
    for event in events:
        snapshot = {column: getattr(event, column) for column in columns}
        label = event.pgh_label
        if label == "delete":
            changes.append(_RawChange(source, tracked, event, snapshot, None, "deleted"))
            previous.pop(event.pgh_obj_id, None)
            continue
        before = previous.get(event.pgh_obj_id)
        action = "created" if label == "insert" or before is None else "changed"
        changes.append(_RawChange(source, tracked, event, before, snapshot, action))
        previous[event.pgh_obj_id] = snapshot
    return changes


def _diff(before: dict | None, after: dict | None) -> dict[str, tuple]:
    if before is None and after is not None:
        return {k: (None, v) for k, v in after.items() if v not in (None, "", [], False)}
    if after is None and before is not None:
        return {k: (v, None) for k, v in before.items() if v not in (None, "", [], False)}
    assert before is not None and after is not None
    return {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}


def _name_of(names: Names, column: str, value):
    table = Names.COLUMNS.get(column)
    return names.of(table, value) if table else value


def _public_name(column: str) -> str:
    return column.removesuffix("_id") if column in Names.COLUMNS else column


# --- the timeline --------------------------------------------------------------------------------


def _events_of(tracked, **filters):
    return (
        _event_model(tracked)
        .objects.filter(**filters)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )


def household_timeline(household: Household) -> list[HistoryEvent]:
    """Everything that happened to the household and its loans, oldest first."""
    loans = dict(Loan.objects.filter(household=household).values_list("pk", "number"))
    names = Names()
    events: list[HistoryEvent] = []

    entries = list(
        LoanTransaction.objects.filter(loan_id__in=list(loans))
        .select_related("import_batch")
        .order_by("posted_at", "id")
    )
    reversed_by = {e.reverses_id: e.pk for e in entries if e.reverses_id}
    for entry in entries:
        names.want("user", entry.posted_by_id)
        names.want("user", entry.approved_by_id)
    raw: list[_RawChange] = []
    raw += _record_changes("household", Household, _events_of(Household, pgh_obj_id=household.pk))
    raw += _record_changes("loan", Loan, _events_of(Loan, pgh_obj_id__in=list(loans)))
    child_rows = (
        ("membership", GroupMembership),
        ("previous_id", PreviousIdentity),
        ("category", HouseholdCategory),
    )
    tracked_ids: dict[str, set] = {}
    for source, model in child_rows:
        changes = _record_changes(source, model, _events_of(model, household_id=household.pk))
        tracked_ids[source] = {c.event.pgh_obj_id for c in changes}
        raw += changes
    for change in raw:
        names.want("user", _context_user(change.event))
        for snapshot in (change.before, change.after):
            for column, value in (snapshot or {}).items():
                if column in Names.COLUMNS:
                    names.want(Names.COLUMNS[column], value)
    untracked = _untracked_rows(household, tracked_ids, names)
    requests = list(
        ApprovalRequest.objects.filter(Q(household=household) | Q(loan_id__in=list(loans)))
        .select_related("loan")
        .order_by("made_at", "id")
    )
    for request in requests:
        names.want("user", request.maker_id)
        names.want("user", request.checker_id)
    names.load()

    for entry in entries:
        batch = entry.import_batch
        events.append(
            HistoryEvent(
                at=entry.posted_at,
                kind=f"entry.{entry.kind}",
                by=names.user(entry.posted_by_id) or SYSTEM,
                approved_by=names.user(entry.approved_by_id),
                value_date=entry.value_date,
                amount=entry.amount,
                loan_number=loans[entry.loan_id],
                reference=entry.reference or None,
                reverses=entry.reverses_id,
                loan_id=entry.loan_id,
                entry_id=entry.pk,
                reversed_by=reversed_by.get(entry.pk),
                batch=batch.pk if batch else None,
                batch_files=list(batch.files) if batch else [],
                note=entry.note,
                model=LoanTransaction,
                seq=(0, entry.pk),
            )
        )
    for change in raw:
        event = _change_event(change, names, loans)
        if event.changes or change.action != "changed":  # an update of untracked columns only
            events.append(event)
    events += untracked
    for request in requests:
        events += _request_events(request, names)
    events.sort(key=lambda e: (e.at, e.seq))
    return events


def _change_event(change: _RawChange, names: Names, loans: dict) -> HistoryEvent:
    diff = {
        _public_name(column): [_name_of(names, column, old), _name_of(names, column, new)]
        for column, (old, new) in _diff(change.before, change.after).items()
    }
    loan_id = change.event.pgh_obj_id if change.source == "loan" else None
    return HistoryEvent(
        at=change.event.pgh_created_at,
        kind=f"{change.source}.{change.action}",
        by=names.user(_context_user(change.event)) or SYSTEM,
        loan_number=loans.get(loan_id) if loan_id else None,
        loan_id=loan_id,
        changes=diff,
        model=change.tracked,
        seq=(1, change.event.pgh_created_at, change.event.pgh_id),
    )


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _untracked_rows(household, tracked_ids: dict[str, set], names: Names) -> list[HistoryEvent]:
    """The rows recorded before their table was tracked, from their own columns: who and when are
    what the row says (a category's recorded_by and recorded_at), else the dates it holds."""
    events = []
    memberships = household.memberships.exclude(pk__in=tracked_ids["membership"])
    for m in memberships.select_related("group"):
        events.append(
            HistoryEvent(
                at=_midnight(m.joined_on),
                kind="membership.created",
                changes={"group": [None, m.group.code], "joined_on": [None, m.joined_on]},
                untracked=True,
                model=GroupMembership,
                seq=(2, m.pk),
            )
        )
        if m.left_on:
            events.append(
                HistoryEvent(
                    at=_midnight(m.left_on),
                    kind="membership.changed",
                    changes={"group": [m.group.code, m.group.code], "left_on": [None, m.left_on]},
                    untracked=True,
                    model=GroupMembership,
                    seq=(2, m.pk),
                )
            )
    for p in household.previous_ids.exclude(pk__in=tracked_ids["previous_id"]):
        events.append(
            HistoryEvent(
                at=_midnight(p.replaced_on),
                kind="previous_id.created",
                changes={"number": [None, p.number], "replaced_on": [None, p.replaced_on]},
                untracked=True,
                model=PreviousIdentity,
                seq=(2, p.pk),
            )
        )
    categories = household.categories.exclude(pk__in=tracked_ids["category"])
    for c in categories.select_related("recorded_by"):
        events.append(
            HistoryEvent(
                at=c.recorded_at,
                kind="category.created",
                by=c.recorded_by.username if c.recorded_by else None,
                changes={"year": [None, c.year], "category": [None, c.category]},
                untracked=True,
                model=HouseholdCategory,
                seq=(2, c.pk),
            )
        )
    return events


def _request_events(request: ApprovalRequest, names: Names) -> list[HistoryEvent]:
    loan_number = request.loan.number if request.loan else None
    common = {"loan_number": loan_number, "loan_id": request.loan_id, "model": ApprovalRequest}
    submitted = HistoryEvent(
        at=request.made_at,
        kind="request.submitted",
        by=names.user(request.maker_id),
        amount=request.amount,
        changes={"operation": [None, request.operation]},
        note=request.held_because,
        seq=(3, request.pk, 0),
        **common,
    )
    if request.status == ApprovalRequest.Status.PENDING or request.decided_at is None:
        return [submitted]
    changes: dict[str, list] = {"status": [ApprovalRequest.Status.PENDING.value, request.status]}
    if request.approved_amount is not None and request.approved_amount != request.amount:
        changes["approved_amount"] = [request.amount, request.approved_amount]
    decided = HistoryEvent(
        at=request.decided_at,
        kind=f"request.{request.status}",
        by=names.user(request.checker_id or request.maker_id),
        approved_by=(
            names.user(request.checker_id)
            if request.status == ApprovalRequest.Status.APPROVED
            else None
        ),
        amount=request.approved_amount if request.approved_amount is not None else request.amount,
        changes=changes,
        note=request.reason,
        seq=(3, request.pk, 1),
        **common,
    )
    return [submitted, decided]


# --- filters -------------------------------------------------------------------------------------


def filter_events(
    events: list[HistoryEvent],
    *,
    source: str | None = None,
    loan_id: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    user: str | None = None,
) -> list[HistoryEvent]:
    """The events of one family, one loan, one user (who did it or approved it), between two
    dates (the day it was recorded, in the office's time zone), each filter when given."""
    user = user.casefold() if user else None

    def keep(e: HistoryEvent) -> bool:
        day = timezone.localtime(e.at).date()
        return (
            (not source or e.source == source)
            and (not loan_id or e.loan_id == loan_id)
            and (not start or day >= start)
            and (not end or day <= end)
            and (not user or user in {(e.by or "").casefold(), (e.approved_by or "").casefold()})
        )

    return [e for e in events if keep(e)]


def household_json(household: Household) -> dict:
    return {
        "id": household.pk,
        "office": household.office.code,
        "full_name": household.full_name,
        "citizen_id": household.citizen_id,
        "previous_citizen_ids": list(household.previous_ids.values_list("number", flat=True)),
        "date_of_birth": household.date_of_birth.isoformat(),
        "sex": household.sex,
        "phone": household.phone,
        "village": household.village.name,
        "commune": household.village.commune.name,
        "group": household.group.code if household.group else None,
        "status": household.status,
    }


def timeline_json(household: Household, events: list[HistoryEvent]) -> dict:
    return {"household": household_json(household), "events": [e.as_json() for e in events]}
