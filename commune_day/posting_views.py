"""The teller's screens on the day: a group's collection sheet entered in bulk, its approved
loans paid out in bulk, and the session's printable list of loans to pay out.

Each screen is one form of rows, posted as one sheet (commune_day.posting): a refusal re-renders
the rows as typed with each bad line's message in its row, nothing written; success goes back to
the session. A per-render key (hidden) makes a double submit post once."""

import contextlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from borrowers.access import PortalRequest
from branch_portal.templatetags.money import group_thousands
from loans.forms import parse_vnd

from . import custody
from .forms import HandoverForm
from .models import SheetPosting
from .posting import (
    SHEET,
    LineError,
    SheetRefused,
    loans_to_disburse,
    post_collection_sheet,
    post_disbursements,
)
from .selectors import collection_sheet, get_session_for_user, get_session_group

KEY_FIELD = "idempotency_key"
_ROW = re.compile(r"^l(\d{1,4})-loan_number$")
# The most rows a posted form may carry (a group has at most 60 members, some with two loans).
MAX_ROWS = 500

COLLECTION_INPUTS = (
    ("interest", gettext_lazy("Interest")),
    ("principal", gettext_lazy("Principal")),
    ("savings", gettext_lazy("Savings deposit")),
    ("savings_interest", gettext_lazy("Savings used for interest")),
    ("savings_principal", gettext_lazy("Savings used for principal")),
)
DISBURSEMENT_INPUTS = (("amount", gettext_lazy("Amount disbursed")),)
# What the sheet says about each row, shown beside the inputs.
COLLECTION_FIGURES = (
    ("interest_due", gettext_lazy("Interest due")),
    ("principal_due", gettext_lazy("Principal due")),
    ("overdue", gettext_lazy("of which overdue")),
    ("savings_balance", gettext_lazy("Savings balance")),
    # Shown only when the group head recorded receipts on their phone (custody).
    ("held", gettext_lazy("Held by the group head")),
)
DISBURSEMENT_FIGURES = (
    ("approved_amount", gettext_lazy("Approved")),
    ("disbursed", gettext_lazy("Disbursed")),
    ("to_disburse", gettext_lazy("To pay out")),
)


@dataclass
class Row:
    """A row of the screen: what the sheet says about the loan and what the clerk typed."""

    number: int
    loan_number: str
    shown: dict[str, Any]
    values: dict[str, str]
    receipt: str = ""
    errors: list[LineError] = field(default_factory=list)
    # Filled for the template, which cannot call a method with arguments.
    figures: list[Any] = field(default_factory=list)
    columns: list[Any] = field(default_factory=list)

    def cells(self, inputs):
        """(column, value typed, its errors) per input, in the row's tab order."""
        return [
            (column, self.values.get(column, ""), [e for e in self.errors if e.column == column])
            for column, _label in inputs
        ]

    @property
    def other_errors(self) -> list[LineError]:
        known = {*self.values, "receipt"}
        return [e for e in self.errors if e.column not in known]

    @property
    def receipt_errors(self) -> list[LineError]:
        return [e for e in self.errors if e.column == "receipt"]


def _amount_text(value: int) -> str:
    return group_thousands(value) if value else ""


def _read_rows(post, inputs) -> tuple[list[dict[str, Any]], list[Row], dict[tuple[int, str], str]]:
    """The posted rows as sheet lines (amounts parsed: a typed amount the parser refuses is
    passed as typed, so the sheet refuses it with the rest), the rows to re-render, and the
    parser's messages by (line, column), clearer than the sheet's."""
    numbers = sorted(int(m.group(1)) for name in post if (m := _ROW.match(name)))[:MAX_ROWS]
    lines, rows, parse_errors = [], [], {}
    for line, n in enumerate(numbers, start=1):
        line_data: dict[str, Any] = {"loan_number": post.get(f"l{n}-loan_number", "")}
        values = {}
        for column, _label in inputs:
            text = post.get(f"l{n}-{column}", "").strip()
            values[column] = text
            if not text:
                continue
            try:
                line_data[column] = parse_vnd(text)
            except forms.ValidationError as exc:
                line_data[column] = text
                parse_errors[(line, column)] = " ".join(exc.messages)
        line_data["receipt"] = post.get(f"l{n}-receipt", "")
        lines.append(line_data)
        rows.append(
            Row(
                number=line,
                loan_number=line_data["loan_number"],
                shown={},
                values=values,
                receipt=line_data["receipt"],
            )
        )
    return lines, rows, parse_errors


def _totals(rows: list[Row], inputs) -> list[str]:
    """The footer's totals of what is typed (the screen's script keeps them as you type)."""
    totals = []
    for column, _label in inputs:
        total = 0
        for row in rows:
            with contextlib.suppress(forms.ValidationError):
                total += parse_vnd(row.values.get(column, "") or "0")
        totals.append(group_thousands(total))
    return totals


def session_url(session) -> str:
    return reverse("sessions:detail", args=[session.pk])


def _sheet_screen(
    request: PortalRequest,
    pk: int,
    group_pk: int,
    *,
    kind: str,
    inputs,
    figures,
    initial_rows: Callable[[Any, Any], list[Row]],
    post: Callable[..., SheetPosting],
    template: str,
    title: str,
    done: Callable[[SheetPosting], str],
):
    session = get_session_for_user(request.user, pk, write=True)
    group = get_session_group(session, group_pk)
    rows = initial_rows(session, group)
    sheet_errors: list[LineError] = []
    if request.method == "POST":
        lines, typed, parse_errors = _read_rows(request.POST, inputs)
        shown = {row.loan_number: row.shown for row in rows}
        for row in typed:
            row.shown = shown.get(row.loan_number, {})
        rows = typed
        try:
            posting = post(
                session=session,
                group=group,
                lines=lines,
                user=request.user,
                idempotency_key=request.POST.get(KEY_FIELD, "")[:100],
            )
        except SheetRefused as refused:
            for error in refused.errors:
                if error.line == SHEET:
                    sheet_errors.append(error)
                else:
                    message = parse_errors.get((error.line, error.column), error.message)
                    rows[error.line - 1].errors.append(error._replace(message=message))
        else:
            messages.success(request, done(posting))
            return redirect(session_url(session))
    posted = (
        SheetPosting.objects.filter(session=session, group=group, kind=kind)
        .select_related("posted_by")
        .first()
    )
    if not any(row.shown.get("held") for row in rows):
        figures = [f for f in figures if f[0] != "held"]
    for row in rows:
        row.figures = [row.shown.get(name) for name, _label in figures]
        row.columns = row.cells(inputs)
    return render(
        request,
        template,
        {
            "session": session,
            "group": group,
            "rows": rows,
            "inputs": inputs,
            "figures": figures,
            "totals": _totals(rows, inputs),
            "sheet_errors": sheet_errors,
            "error_count": sum(len(row.errors) for row in rows) + len(sheet_errors),
            "posted": posted,
            "key": uuid.uuid4().hex,
            "title": title,
            "back_url": session_url(session),
        },
        status=400 if sheet_errors or any(row.errors for row in rows) else 200,
    )


def _collection_rows(session, group) -> list[Row]:
    """The sheet's lines, pre-filled with what is due; a loan the group head holds receipts for
    is pre-filled with what they hold instead: what they collected is what they hand in."""
    sheet = collection_sheet(group, session.date)
    held = custody.held_by_loan(group)
    return [
        Row(
            number=n,
            loan_number=line.loan_number,
            shown={
                "name": line.name,
                "citizen_id": line.citizen_id,
                "programme": line.programme,
                "outstanding": line.outstanding,
                "interest_due": line.interest_due,
                "principal_due": line.principal_due,
                "overdue": line.overdue,
                "savings_balance": line.savings_balance,
                "held": sum(held[line.loan_id].values()) if line.loan_id in held else None,
            },
            values=_prefilled(line, held.get(line.loan_id)),
        )
        for n, line in enumerate(sheet.lines, start=1)
    ]


def _prefilled(line, held: dict[str, int] | None) -> dict[str, str]:
    values = {"savings": "", "savings_interest": "", "savings_principal": ""}
    if held is None:
        return values | {
            "interest": _amount_text(line.interest_due),
            "principal": _amount_text(line.principal_due),
        }
    return values | {
        column: _amount_text(held[column]) for column in ("interest", "principal", "savings")
    }


@login_required
def enter_collection_sheet(request: PortalRequest, pk: int, group_pk: int):
    return _sheet_screen(
        request,
        pk,
        group_pk,
        kind=SheetPosting.Kind.COLLECTION,
        inputs=COLLECTION_INPUTS,
        figures=COLLECTION_FIGURES,
        initial_rows=_collection_rows,
        post=post_collection_sheet,
        template="commune_day/enter_sheet.html",
        title=_("Collection sheet"),
        done=lambda p: (
            _("Sheet of group %(g)s posted: %(n)s line(s), %(cash)s đồng handed in.")
            % {"g": p.group.code, "n": p.lines, "cash": group_thousands(p.cash_in)}
        ),
    )


def _disbursement_rows(session, group) -> list[Row]:
    return [
        Row(
            number=n,
            loan_number=loan.number,
            shown={
                "name": loan.household.full_name,
                "citizen_id": loan.household.citizen_id,
                "programme": loan.programme.code,
                "approved_amount": loan.approved_amount,
                "disbursed": loan.disbursed,
                "to_disburse": loan.to_disburse,
            },
            values={"amount": _amount_text(loan.to_disburse)},
        )
        for n, loan in enumerate(loans_to_disburse([group.pk]), start=1)
    ]


@login_required
def disburse_group(request: PortalRequest, pk: int, group_pk: int):
    return _sheet_screen(
        request,
        pk,
        group_pk,
        kind=SheetPosting.Kind.DISBURSEMENT,
        inputs=DISBURSEMENT_INPUTS,
        figures=DISBURSEMENT_FIGURES,
        initial_rows=_disbursement_rows,
        post=post_disbursements,
        template="commune_day/enter_sheet.html",
        title=_("Disbursements"),
        done=lambda p: (
            _("Group %(g)s: %(n)s loan(s) paid out, %(amount)s đồng.")
            % {"g": p.group.code, "n": p.lines, "amount": group_thousands(p.disbursed)}
        ),
    )


@login_required
def session_disbursements(request: PortalRequest, pk: int):
    """The session's loans to pay out, by group: printable, for the team and the borrowers."""
    session = get_session_for_user(request.user, pk)
    groups = list(session.groups.order_by("code"))
    loans = list(loans_to_disburse([g.pk for g in groups]))
    by_group = [(g, [loan for loan in loans if loan.group_id == g.pk]) for g in groups]
    return render(
        request,
        "commune_day/disbursement_list.html",
        {
            "session": session,
            "by_group": [(g, ls) for g, ls in by_group if ls],
            "total": sum(loan.to_disburse for loan in loans),
            "count": len(loans),
            "can_write": request.access.can_write(session.office),
            "back_url": session_url(session),
        },
    )


# --- receipts held by the group head (commune_day.custody) ---------------------------------------


@login_required
@require_POST
def confirm_custody(request: PortalRequest, pk: int, group_pk: int):
    """The teller confirms what the group head holds: every held receipt posts as the group's
    sheet, with the cash handed in against it. Back to the session, with the outcome."""
    session = get_session_for_user(request.user, pk, write=True)
    group = get_session_group(session, group_pk)
    form = HandoverForm(request.POST)
    if not form.is_valid():
        for field_errors in form.errors.values():
            for error in field_errors:
                messages.error(request, f"{group.code}: {error}")
        return redirect("sessions:detail", pk=session.pk)
    try:
        handover = custody.custody_confirm(
            session=session,
            group=group,
            handed_in=form.cleaned_data["handed_in"],
            note=form.cleaned_data["note"],
            user=request.user,
            idempotency_key=f"custody:s{session.pk}:g{group.pk}",
        )
    except SheetRefused as refused:
        for error in refused.errors:
            messages.error(request, f"{group.code}: {error.message}")
    else:
        messages.success(
            request,
            _("%(g)s: %(n)s receipts held by the group head posted, %(held)s đồng.")
            % {"g": group.code, "n": handover.receipts, "held": group_thousands(handover.held)},
        )
    return redirect("sessions:detail", pk=session.pk)
