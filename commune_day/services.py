"""Writes of the commune transaction day: opening a session with its team, naming the team,
closing it against the cash counted and the controller's countersignature.

Every write locks the session row, so a sheet posted (which calls session_require_open inside
its own transaction) and the session closed at the same moment run one after the other."""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from borrowers.models import Commune, Office, OfficeMembership, SavingsGroup
from branch_portal.roles import WRITE_ROLES
from branch_portal.templatetags.money import group_thousands
from loans.money import MAX_AMOUNT

from .models import TransactionSession

__all__ = [
    "commune_groups_on",
    "default_session_date",
    "session_close",
    "session_countersign",
    "session_open",
    "session_require_open",
    "session_set_team",
]

# The team's roles, in the order the messages name them.
TEAM = ("leader", "controller", "teller")


def _date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def default_session_date(commune: Commune, office: Office) -> dt.date:
    """The commune's transaction day in the office's business month."""
    month = office.business_date
    return dt.date(month.year, month.month, commune.transaction_day)


def commune_groups_on(commune: Commune, day: dt.date) -> QuerySet[SavingsGroup]:
    """The groups a commune point serves on a day: those of its villages not dissolved by then,
    whatever their chapter or organisation."""
    return SavingsGroup.objects.filter(village__commune=commune).filter(
        Q(dissolved_on__isnull=True) | Q(dissolved_on__gt=day)
    )


def _team_label(role: str) -> str:
    return {"leader": _("leader"), "controller": _("controller"), "teller": _("teller")}[role]


def _check_team(office: Office, team: dict) -> None:
    """Each named member works in the office (staff or manager) and nobody holds two roles."""
    named = {role: user for role, user in team.items() if user is not None}
    writers = set(
        OfficeMembership.objects.filter(
            office=office, user__in=named.values(), role__in=WRITE_ROLES, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    errors: dict[str, list[ValidationError]] = {}
    seen: dict[int, str] = {}
    for role in TEAM:
        user = named.get(role)
        if user is None:
            continue
        if user.pk not in writers:
            errors.setdefault(role, []).append(
                ValidationError(
                    _("%(user)s is not a staff member or manager of %(office)s.")
                    % {"user": user.get_username(), "office": office.name},
                    code="not_of_office",
                )
            )
        if user.pk in seen:
            errors.setdefault(role, []).append(
                ValidationError(
                    _(
                        "The %(role)s must be a different person from the %(other)s: "
                        "a session's team is three different people."
                    )
                    % {"role": _team_label(role), "other": _team_label(seen[user.pk])},
                    code="team_not_distinct",
                )
            )
        else:
            seen[user.pk] = role
    if errors:
        raise ValidationError(errors)


def _check_opener(office: Office, user) -> None:
    from borrowers.selectors import can_write

    if not can_write(user, office):
        raise ValidationError(
            _("Only staff or a manager of %(office)s may open a session there.")
            % {"office": office.name},
            code="not_of_office",
        )


@transaction.atomic
def session_open(
    *,
    office: Office,
    commune: Commune,
    leader,
    user,
    date: dt.date | None = None,
    controller=None,
    teller=None,
    groups=None,
) -> TransactionSession:
    """Open the commune point's session on `date` (its transaction day in the office's business
    month by default) with its team and the groups it serves (by default every group of the
    commune's villages not dissolved by then). One session per commune and date."""
    _check_opener(office, user)
    if commune.office_id != office.pk:
        raise ValidationError(
            {"commune": _("The commune is not served by %(office)s.") % {"office": office.name}}
        )
    day = date or default_session_date(commune, office)
    if commune.valid_to is not None and day > commune.valid_to:
        raise ValidationError(
            {
                "date": _("The commune no longer exists on %(d)s (it ended on %(end)s).")
                % {"d": _date(day), "end": _date(commune.valid_to)}
            }
        )
    _check_team(office, {"leader": leader, "controller": controller, "teller": teller})
    served = list(commune_groups_on(commune, day))
    if groups is None:
        chosen = served
    else:
        chosen = list(groups)
        allowed = {group.pk for group in served}
        foreign = [group.code for group in chosen if group.pk not in allowed]
        if foreign:
            raise ValidationError(
                {
                    "groups": _("Not groups of %(commune)s active on %(d)s: %(codes)s.")
                    % {"commune": commune.name, "d": _date(day), "codes": ", ".join(foreign)}
                }
            )
    if not chosen:
        raise ValidationError(
            {"groups": _("%(commune)s has no active group to serve.") % {"commune": commune.name}}
        )
    if TransactionSession.objects.filter(commune=commune, date=day).exists():
        raise _already_open(commune, day)
    try:
        with transaction.atomic():
            session = TransactionSession.objects.create(
                office=office,
                commune=commune,
                date=day,
                leader=leader,
                controller=controller,
                teller=teller,
                opened_by=user,
            )
    except IntegrityError as exc:  # a second opener won the race for the commune and day
        raise _already_open(commune, day) from exc
    session.groups.set(chosen)
    return session


def _already_open(commune: Commune, day: dt.date) -> ValidationError:
    return ValidationError(
        {
            "date": _("%(commune)s already has a session on %(d)s.")
            % {"commune": commune.name, "d": _date(day)}
        },
        code="session_exists",
    )


def _locked(session: TransactionSession) -> TransactionSession:
    return (
        TransactionSession.objects.select_for_update(of=("self",))
        .select_related("office", "commune")
        .get(pk=session.pk)
    )


def session_require_open(session: TransactionSession) -> TransactionSession:
    """The session, locked for the caller's transaction; ValidationError unless it is open
    (a session being closed or closed takes no more postings). Call it inside the posting's
    transaction: the lock makes closing wait for the posting, or the posting see it closed."""
    locked = _locked(session) if transaction.get_connection().in_atomic_block else session
    if not locked.is_open:
        raise ValidationError(
            _("The session of %(commune)s on %(d)s is closed: it takes no more postings.")
            % {"commune": locked.commune.name, "d": _date(locked.date)},
            code="session_closed",
        )
    return locked


@transaction.atomic
def session_set_team(
    *, session: TransactionSession, user, controller=None, teller=None, leader=None
) -> TransactionSession:
    """Name (or change) the session's team while it is open; a role not given stays as is."""
    session = session_require_open(session)
    _check_opener(session.office, user)
    team: dict[str, Any] = {
        "leader": leader or session.leader,
        "controller": controller or session.controller,
        "teller": teller or session.teller,
    }
    _check_team(session.office, team)
    session.leader = team["leader"]
    session.controller, session.teller = team["controller"], team["teller"]
    session.save(update_fields=["leader", "controller", "teller"])
    return session


@transaction.atomic
def session_close(
    *, session: TransactionSession, cash_counted: int, explanation: str, user
) -> TransactionSession:
    """The leader or the teller closes the session: the cash counted against what the postings
    say (cash in − disbursed − fees paid), a difference explained. It then takes no more
    postings and waits for the controller's countersignature."""
    from .selectors import session_summary

    session = session_require_open(session)
    _check_opener(session.office, user)
    if user.pk not in (session.leader_id, session.teller_id):
        raise ValidationError(
            _("Only the session's leader or teller may close it."), code="not_leader_or_teller"
        )
    if session.controller_id is None or session.teller_id is None:
        raise ValidationError(
            _("Name the session's controller and teller before closing it."), code="team_missing"
        )
    if not isinstance(cash_counted, int) or cash_counted < 0 or cash_counted > MAX_AMOUNT:
        raise ValidationError(
            {
                "cash_counted": _("The cash counted must be between 0 and %(max)s đồng.")
                % {"max": group_thousands(MAX_AMOUNT)}
            }
        )
    expected = session_summary(session).cash_expected
    explanation = explanation.strip()
    if cash_counted != expected and not explanation:
        raise ValidationError(
            {
                "explanation": _(
                    "The cash counted (%(counted)s đồng) differs from what the postings say "
                    "(%(expected)s đồng) by %(diff)s đồng: explain the difference."
                )
                % {
                    "counted": group_thousands(cash_counted),
                    "expected": group_thousands(expected),
                    "diff": group_thousands(cash_counted - expected),
                }
            },
            code="difference_unexplained",
        )
    session.cash_expected = expected
    session.cash_counted = cash_counted
    session.difference_explanation = explanation
    session.status = TransactionSession.Status.CLOSING
    session.closed_by = user
    session.closed_at = timezone.now()
    session.save(
        update_fields=[
            "cash_expected",
            "cash_counted",
            "difference_explanation",
            "status",
            "closed_by",
            "closed_at",
        ]
    )
    return session


@transaction.atomic
def session_countersign(*, session: TransactionSession, user) -> TransactionSession:
    """The controller countersigns the count and the session is closed: a second person, never
    the one who closed it (four eyes, as for the operations of loans.approvals)."""
    session = _locked(session)
    _check_opener(session.office, user)
    if session.status != TransactionSession.Status.CLOSING:
        raise ValidationError(
            _("Only a session awaiting its countersignature can be countersigned."),
            code="not_closing",
        )
    if user.pk == session.closed_by_id:
        raise ValidationError(
            _("You closed this session: another person must countersign it."),
            code="same_person",
        )
    if user.pk != session.controller_id:
        raise ValidationError(
            _("Only the session's controller may countersign it."), code="not_controller"
        )
    session.status = TransactionSession.Status.CLOSED
    session.countersigned_by = user
    session.countersigned_at = timezone.now()
    session.save(update_fields=["status", "countersigned_by", "countersigned_at"])
    return session
