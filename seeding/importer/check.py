"""Checking a portfolio's rows (docs/import-format.md) against the office's data and with the rules
the services apply, in memory: every file's rows go through one loop (header, control characters,
key, duplicates, the file's own row check), each error recorded as "file:row: column: message";
then each loan's entries are simulated in integers with the rulebook the services post with
(`loans.ledger`): the ledger effects (d_outstanding, d_overdue, d_frozen, counted_kind), the
statuses and the refusals. Nothing here writes; .write does, when nothing was wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from borrowers.citizen_id import validate_citizen_id
from borrowers.models import (
    STORED_CATEGORY_YEARS,
    Category,
    Chapter,
    Commune,
    GroupMembership,
    Household,
    HouseholdCategory,
    Office,
    Organisation,
    SavingsGroup,
    Sex,
    Village,
)
from borrowers.services import check_date_of_birth, msg_group_of_another_commune
from branch_portal.templatetags.money import group_thousands
from loans import ledger
from loans.models import (
    MAX_TERM_MONTHS,
    MAX_WORKERS_EMPLOYED,
    MAX_WORKS_BUILT,
    ClosedMonth,
    Loan,
    LoanTransaction,
    Programme,
    TransactionKind,
)
from loans.money import MAX_AMOUNT
from loans.services import loan_check_rules

from .read import FILES, UNNAMED, control_character, cut, quote

Kind = TransactionKind

# file: (columns that must be present, columns that may be absent or empty)
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "communes": (("code", "name", "transaction_day"), ()),
    "villages": (("code", "commune_code", "name"), ()),
    "groups": (("code", "village_code", "organisation", "name", "head_name"), ()),
    "borrowers": (
        ("citizen_id", "full_name", "date_of_birth", "sex", "village_code", "category"),
        ("group_code", "phone"),
    ),
    "loans": (
        ("loan_number", "citizen_id", "programme", "approved_amount", "term_months", "approved_on"),
        ("group_code", "purpose", "workers_employed", "works_built"),
    ),
    "transactions": (("reference", "loan_number", "kind", "value_date", "amount"), ("reverses",)),
}
IMPORT_KINDS = (
    Kind.DISBURSEMENT,
    Kind.PRINCIPAL_REPAYMENT,
    Kind.INTEREST_PAYMENT,
    Kind.TRANSFER_TO_OVERDUE,
    Kind.WRITE_OFF,
    Kind.REVERSAL,
)
WHOLE = re.compile(r"[0-9]+")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Bounds of the values a file may hold (docs/import-format.md, "Limits"): beyond them a value is
# an error of its row and column, never a database error or a traceback. They are the models'
# own bounds (decision 0008), imported, not copied: amounts loans.money.MAX_AMOUNT; term, workers
# and works loans.models.MAX_*; a date of birth borrowers.services.check_date_of_birth.
#
# Every CHECK constraint on what the import writes, and what keeps an import from breaking it:
#   loan_amount_*, entry_amount_*      the amount columns, bounded by _whole (1 to MAX_AMOUNT)
#   loan_term_in_range                 term_months (1 to MAX_TERM_MONTHS)
#   loan_outcome_counts_in_range       workers_employed, works_built (0 to MAX_WORKERS_EMPLOYED,
#                                      MAX_WORKS_BUILT)
#   transaction_day_1_28               transaction_day
#   born_after_1900                    date_of_birth, by check_date_of_birth
#   category_year_in_range             the years written are clamped to STORED_CATEGORY_YEARS,
#                                      and every loan date is from FIRST_HISTORY_DATE on
#   loan_disbursed_in_range,           the simulation: disbursements never above the approved
#   loan_balances_consistent           amount; Book.apply refuses impossible balances
#   loan_outstanding_in_range          Book.apply: outstanding beyond MAX_AMOUNT (a disbursement
#                                      onto a balance transferred in) is an error of the entry
#   entry_effects_in_range             each effect is at most its entry's amount (a reversal's,
#                                      its target's)
#   reversal_points_at_entry           a reversal names its entry (check_transaction)
#   instalment_principal_in_range      schedule_from_records splits `disbursed`, each part >= 0
#   rule_cap_*, rule_term_in_range     programme rules are not written by the import
#
# The first date of a loan's history: a loan is approved for its household's category of that
# year, and categories are stored from 1995 (the Bank for the Poor's first year); no entry
# precedes its loan's approval. Dates of birth have their own bound (from 1900).
FIRST_HISTORY_DATE = dt.date(STORED_CATEGORY_YEARS[0], 1, 1)
# The column that names a row of each file: a refused row's key, so rows referring to it are not
# reported again.
KEYS = {
    "communes": "code",
    "villages": "code",
    "groups": "code",
    "borrowers": "citizen_id",
    "loans": "loan_number",
    "transactions": "reference",
}


@dataclass
class ImportSummary:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILES, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILES, 0))
    # The id of the import's batch (loans.ImportBatch), once written.
    batch: int | None = None

    @property
    def new_rows(self) -> int:
        return sum(self.created.values())

    def lines(self) -> list[str]:
        return [
            _("%(file)s.csv: %(new)s new, %(same)s unchanged")
            % {"file": name, "new": self.created[name], "same": self.unchanged[name]}
            for name in FILES
        ]


# --- validation helpers ------------------------------------------------------------------------


class _Bad(Exception):
    """The row is refused: an error of its column."""

    def __init__(self, column: str, message: str):
        self.column, self.message = column, message


class _Refused(Exception):
    """The row is refused and its errors are reported already, or not at all: it refers to a row
    that was itself refused."""


def _text(row, column, *, max_length, required=True, name=False) -> str:
    value = row.get(column, "") or ""
    if name:
        value = " ".join(value.split())
    if required and not value:
        raise _Bad(column, _("A value is required."))
    if len(value) > max_length:
        raise _Bad(column, _("At most %(n)s characters.") % {"n": max_length})
    return value


def _whole(row, column, *, low=1, high=MAX_AMOUNT, default=None, out_of_range=None) -> int:
    """A whole number of ASCII digits within [low, high] (low is 0 or 1: no sign is accepted).
    The digits are counted before int() is asked: Python refuses to convert more than 4,300."""
    value = row.get(column, "") or ""
    if not value and default is not None:
        return default
    if not WHOLE.fullmatch(value):
        raise _Bad(column, _("%(v)r is not a whole number.") % {"v": cut(value)})
    digits = value.lstrip("0") or "0"
    too_large = len(digits) > len(str(high)) or int(digits) > high
    if out_of_range is not None and (too_large or int(digits) < low):
        raise _Bad(column, out_of_range)
    if too_large:
        raise _Bad(
            column, _("The number is too large (at most %(n)s).") % {"n": group_thousands(high)}
        )
    number = int(digits)
    if number < low:
        raise _Bad(column, _("The number must be positive."))
    return number


def _date(row, column, *, earliest: dt.date | None = FIRST_HISTORY_DATE) -> dt.date:
    value = row.get(column, "") or ""
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _Bad(
            column, _("%(v)r is not a date written YYYY-MM-DD.") % {"v": cut(value)}
        ) from None
    if earliest is not None and day < earliest:
        raise _Bad(column, _("The date is before %(d)s.") % {"d": earliest.strftime("%d/%m/%Y")})
    return day


class _Certified:
    """Stands in for a household in loan_check_rules: the categories it will have been certified
    with once the import is written."""

    def __init__(self, years: dict[int, str]):
        self.years = years

    def category_for(self, year: int) -> str | None:
        known = [y for y in self.years if y <= year]
        return self.years[max(known)] if known else None


@dataclass
class Entry:
    """A ledger entry in the simulation: an existing one (pk) or one from the file (row)."""

    reference: str
    loan_key: str
    kind: str
    value_date: dt.date
    amount: int
    row: int | None = None
    pk: int | None = None
    reverses: str = ""
    counted_kind: str = ""
    d_outstanding: int = 0
    d_overdue: int = 0
    d_frozen: int = 0
    reversed: bool = False
    failed: bool = False
    done: bool = False
    target: Entry | None = None


@dataclass
class Book:
    """A loan's balances as the simulation walks through its entries."""

    approved_amount: int
    approved_on: dt.date
    outstanding: int = 0
    overdue: int = 0
    frozen: int = 0
    disbursed: int = 0
    first_disbursed_on: dt.date | None = None
    status: str = Loan.Status.APPROVED
    transferred: bool = False

    @property
    def in_term(self) -> int:
        return ledger.in_term(self.outstanding, self.overdue, self.frozen)

    def apply(self, entry: Entry) -> bool:
        """Apply the entry's effect; False if the balances are then ones no loan may have
        (loan_balances_consistent, loan_outstanding_in_range)."""
        self.outstanding += entry.d_outstanding
        self.overdue += entry.d_overdue
        self.frozen += entry.d_frozen
        self.status = ledger.settle_status(
            entry.kind, self.outstanding, self.disbursed, self.transferred
        )
        return (
            ledger.consistent(self.outstanding, self.overdue, self.frozen)
            and self.outstanding <= MAX_AMOUNT
        )


class Checker:
    """One import's check: what the office holds already (load_existing), then the files (check):
    the errors, the new rows to write (`new`), and each loan's entries and balances as the
    simulation leaves them (`loan_entries`, `books`)."""

    def __init__(self, office: Office, user):
        self.office = office
        self.user = user
        self.summary = ImportSummary()
        self.errors: list[tuple[int, int, str, str]] = []
        self.business_date = office.business_date
        self.key_prefix = f"import:{office.code}:"
        self.broken: set[str] = set()  # files whose header is wrong: their rows are not read

    # errors

    def error(self, file: str, row: int, column: str, message: str) -> None:
        self.errors.append((FILES.index(file), row, column, message))

    def error_lines(self) -> list[str]:
        return [
            f"{FILES[f]}.csv:{row}: {column}: {message}"
            for f, row, column, message in sorted(self.errors, key=lambda e: (e[0], e[1]))
        ]

    def rows(self, tables, name):
        """(row number, row) for the file's non-empty rows, after checking its header."""
        rows = tables.get(name) or []
        if not rows:
            return []
        required, optional = COLUMNS[name]
        columns = set().union(*(r.keys() for r in rows)) - {UNNAMED}
        for column in required:
            if column not in columns:
                self.error(name, 1, column, _("The column is missing."))
                self.broken.add(name)
        for column in sorted(columns - set(required) - set(optional)):
            self.error(name, 1, quote(column), _("Unknown column."))
            self.broken.add(name)
        if name in self.broken:
            return []  # one error for the header, not one per row and per reference
        result = []
        for index, row in enumerate(rows):
            number = index + 2
            if row.get(UNNAMED):
                self.error(name, number, "-", _("Values beyond the last named column."))
            if not any(row.get(c) for c in required + optional):
                continue
            if self.has_control_characters(name, number, row, required + optional):
                self.bad[name].add(row.get(KEYS[name], ""))
                continue  # refused here: its values are not echoed by the checks below
            result.append((number, row))
        return result

    def has_control_characters(self, name, number, row, columns) -> bool:
        found = False
        for column in columns:
            character = control_character(column, row.get(column) or "")
            if character:
                found = True
                self.error(
                    name,
                    number,
                    column,
                    _("The value contains the control character U+%(c)04X; remove it.")
                    % {"c": ord(character)},
                )
        return found

    # what is in the database already

    def load_existing(self, tables) -> None:
        office = self.office
        self.organisations = {o.code: o for o in Organisation.objects.all()}
        self.programmes = {p.code: p for p in Programme.objects.all()}
        self.communes = {c.code: c for c in Commune.objects.filter(office=office)}
        self.villages = {
            v.code: v for v in Village.objects.filter(office=office).select_related("commune")
        }
        self.chapters = {
            (c.commune_id, c.organisation_id): c for c in Chapter.objects.filter(office=office)
        }
        self.groups = {
            g.code: g
            for g in SavingsGroup.objects.filter(office=office).select_related(
                "village", "chapter__organisation"
            )
        }
        self.households = {
            h.citizen_id: h
            for h in Household.objects.filter(
                office=office, status=Household.Status.ACTIVE
            ).select_related("village", "group")
        }
        self.certified: dict[str, dict[int, str]] = defaultdict(dict)
        by_pk = {h.pk: h.citizen_id for h in self.households.values()}
        for household_id, year, category in HouseholdCategory.objects.filter(
            household__in=by_pk
        ).values_list("household_id", "year", "category"):
            self.certified[by_pk[household_id]][year] = category
        cids = [r.get("citizen_id", "") for r in tables.get("borrowers") or []]
        self.elsewhere = dict(
            Household.objects.filter(citizen_id__in=cids, status=Household.Status.ACTIVE)
            .exclude(office=office)
            .values_list("citizen_id", "office__code")
        )
        self.loans = {
            loan.number: loan
            for loan in Loan.objects.filter(office=office).select_related(
                "household", "programme", "group"
            )
        }
        # A month is closed when it or a later one is (loans.services.month_is_closed).
        self.closed_through = (
            ClosedMonth.objects.filter(office=office)
            .order_by("-month")
            .values_list("month", flat=True)
        ).first()
        loan_numbers = {loan.pk: loan.number for loan in self.loans.values()}
        self.entries: dict[str, Entry] = {}  # by reference
        self.loan_entries: dict[str, list[Entry]] = defaultdict(list)
        reversed_ids = set()
        existing = LoanTransaction.objects.filter(office=office).values_list(
            "pk",
            "reference",
            "loan_id",
            "kind",
            "counted_kind",
            "value_date",
            "amount",
            "d_outstanding",
            "d_overdue",
            "d_frozen",
            "reverses_id",
            "reverses__reference",
        )
        for (
            pk,
            ref,
            loan_id,
            kind,
            counted,
            day,
            amount,
            d_o,
            d_v,
            d_f,
            rev_id,
            rev_ref,
        ) in existing.order_by("value_date", "pk").iterator(chunk_size=20000):
            entry = Entry(
                reference=ref,
                loan_key=loan_numbers[loan_id],
                kind=kind,
                counted_kind=counted,
                value_date=day,
                amount=amount,
                pk=pk,
                reverses=rev_ref or "",
                d_outstanding=d_o,
                d_overdue=d_v,
                d_frozen=d_f,
            )
            if rev_id:
                reversed_ids.add(rev_id)
            if ref and ref not in self.entries:
                self.entries[ref] = entry
            self.loan_entries[entry.loan_key].append(entry)
        for entries in self.loan_entries.values():
            for entry in entries:
                entry.reversed = entry.pk in reversed_ids
        # New rows to write, in dependency order.
        self.new: dict[str, list] = defaultdict(list)
        self.bad: dict[str, set[str]] = defaultdict(set)  # keys of rows that failed

    def unchanged(self, name, number, pairs) -> bool:
        """Whether a row already in the database is given again as it is; each column whose file
        value differs is reported (nothing is overwritten)."""
        found = False
        for column, ours, theirs in pairs:
            if ours != theirs:
                found = True
                shown = theirs.isoformat() if isinstance(theirs, dt.date) else theirs
                self.error(
                    name,
                    number,
                    column,
                    _("Differs from the row already imported (%(v)s); nothing is overwritten.")
                    % {"v": shown if shown not in ("", None) else _("empty")},
                )
        if not found:
            self.summary.unchanged[name] += 1
        return not found

    def duplicate(self, name, number, column, value, seen: dict) -> bool:
        if value in seen:
            self.error(
                name,
                number,
                column,
                _("%(v)s appears again (first on row %(r)s).")
                % {"v": quote(value), "r": seen[value]},
            )
            return True
        seen[value] = number
        return False

    def refer(self, name, number, column, value, known: dict, target: str):
        """The row a code refers to, or None (reported unless that row itself was bad)."""
        if value in known:
            return known[value]
        if value not in self.bad[target] and target not in self.broken:
            self.error(
                name,
                number,
                column,
                _("%(v)s is not known (neither in %(f)s.csv nor already imported).")
                % {"v": quote(value), "f": target},
            )
        return None

    def check_date(self, column: str, day: dt.date) -> None:
        if day > self.business_date:
            raise _Bad(
                column,
                _("The date is after the office's business date %(d)s.")
                % {"d": self.business_date.strftime("%d/%m/%Y")},
            )

    # the files

    def check(self, tables) -> None:
        rows = {name: self.rows(tables, name) for name in FILES}
        # The years a borrower's category is stored for, whatever the dates
        # (category_year_in_range): from the first year of the history to the business date.
        first, last = STORED_CATEGORY_YEARS
        start = self.first_year(rows["loans"], rows["transactions"])
        self.category_years = range(max(start, first), min(self.business_date.year, last) + 1)
        self.rules_memo: dict = {}
        self.books: dict[str, Book] = {}
        # Each file: the longest key its column holds (None: the citizen ID, checked with the
        # date of birth and sex by its row check), and the check of one of its rows, given the
        # row's number and key once its key is known to be new in the file. In FILES order, so
        # that a row's references are known by the time it is checked.
        files = (
            ("communes", 20, self.check_commune),
            ("villages", 20, self.check_village),
            ("groups", 20, self.check_group),
            ("borrowers", None, self.check_borrower),
            ("loans", 40, self.check_loan),
            ("transactions", 100 - len(self.key_prefix), self.check_transaction),
        )
        for name, key_length, check_row in files:
            column, seen = KEYS[name], {}
            for number, row in rows[name]:
                key = row.get(column, "")
                try:
                    if key_length is not None:
                        _text(row, column, max_length=key_length)
                    if self.duplicate(name, number, column, key, seen):
                        continue
                    check_row(number, key, row)
                except _Bad as bad:
                    self.error(name, number, bad.column, bad.message)
                    self.bad[name].add(key)
                except _Refused:
                    self.bad[name].add(key)
        self.simulate()

    def first_year(self, loan_rows, transaction_rows) -> int:
        years = [self.business_date.year]
        for rows, column in ((loan_rows, "approved_on"), (transaction_rows, "value_date")):
            for _number, row in rows:
                value = row.get(column, "")
                if not ISO_DATE.fullmatch(value):
                    continue
                if FIRST_HISTORY_DATE.year <= int(value[:4]) <= years[0]:
                    years.append(int(value[:4]))
        return min(years)

    def check_commune(self, number, code, row) -> None:
        name = _text(row, "name", max_length=200, name=True)
        day = _whole(
            row, "transaction_day", high=28, out_of_range=_("The day must be between 1 and 28.")
        )
        existing = self.communes.get(code)
        if existing is not None:
            pairs = [
                ("name", name, existing.name),
                ("transaction_day", day, existing.transaction_day),
            ]
            self.unchanged("communes", number, pairs)
            return
        commune = Commune(office=self.office, code=code, name=name, transaction_day=day)
        self.communes[code] = commune
        self.new["communes"].append(commune)

    def check_village(self, number, code, row) -> None:
        commune_code = _text(row, "commune_code", max_length=20)
        name = _text(row, "name", max_length=200, name=True)
        commune = self.refer(
            "villages", number, "commune_code", commune_code, self.communes, "communes"
        )
        if commune is None:
            raise _Refused
        existing = self.villages.get(code)
        if existing is not None:
            pairs = [
                ("commune_code", commune_code, existing.commune.code),
                ("name", name, existing.name),
            ]
            self.unchanged("villages", number, pairs)
            return
        village = Village(office=self.office, commune=commune, code=code, name=name)
        self.villages[code] = village
        self.new["villages"].append(village)

    def check_group(self, number, code, row) -> None:
        village_code = _text(row, "village_code", max_length=20)
        organisation = self.organisations.get(row.get("organisation", ""))
        if organisation is None:
            raise _Bad(
                "organisation",
                _("%(v)r is not one of %(codes)s.")
                % {"v": cut(row.get("organisation", "")), "codes": ", ".join(self.organisations)},
            )
        name = _text(row, "name", max_length=200, name=True)
        head_name = _text(row, "head_name", max_length=200, name=True)
        village = self.refer(
            "groups", number, "village_code", village_code, self.villages, "villages"
        )
        if village is None:
            raise _Refused
        existing = self.groups.get(code)
        if existing is not None:
            pairs = [
                ("village_code", village_code, existing.village.code),
                ("organisation", organisation.code, existing.chapter.organisation.code),
                ("name", name, existing.name),
                ("head_name", head_name, existing.head_name),
            ]
            self.unchanged("groups", number, pairs)
            return
        commune = village.commune
        chapter_key = (commune.pk or id(commune), organisation.pk)
        chapter = self.chapters.get(chapter_key)
        if chapter is None:
            chapter = Chapter(office=self.office, commune=commune, organisation=organisation)
            self.chapters[chapter_key] = chapter
            self.new["chapters"].append(chapter)
        group = SavingsGroup(
            office=self.office,
            code=code,
            name=name,
            village=village,
            chapter=chapter,
            head_name=head_name,
        )
        self.groups[code] = group
        self.new["groups"].append(group)

    def check_borrower(self, number, cid, row) -> None:
        full_name = _text(row, "full_name", max_length=200, name=True)
        sex = row.get("sex", "")
        if sex not in Sex.values:
            raise _Bad("sex", _("%(v)r is neither M nor F.") % {"v": cut(sex)})
        born = _date(row, "date_of_birth", earliest=None)
        try:  # from 1900, an adult on the business date: the services' own rule
            check_date_of_birth(born, on=self.business_date)
        except ValidationError as exc:
            raise _Bad("date_of_birth", " ".join(exc.messages)) from None
        try:
            validate_citizen_id(cid, date_of_birth=born, sex=sex)
        except ValidationError as exc:
            raise _Bad("citizen_id", " ".join(exc.messages)) from None
        if cid in self.elsewhere:
            raise _Bad(
                "citizen_id",
                _("An active borrower with this citizen ID already exists in office %(o)s.")
                % {"o": self.elsewhere[cid]},
            )
        category = row.get("category", "")
        if category not in Category.values:
            raise _Bad(
                "category",
                _("%(v)r is not one of %(codes)s.")
                % {"v": cut(category), "codes": ", ".join(Category.values)},
            )
        phone = _text(row, "phone", max_length=20, required=False)
        village_code = _text(row, "village_code", max_length=20)
        group_code = _text(row, "group_code", max_length=20, required=False)
        village = self.refer(
            "borrowers", number, "village_code", village_code, self.villages, "villages"
        )
        group = None
        if group_code:
            group = self.refer("borrowers", number, "group_code", group_code, self.groups, "groups")
        if village is None or (group_code and group is None):
            raise _Refused
        if group is not None and group.village.commune.code != village.commune.code:
            raise _Bad("group_code", msg_group_of_another_commune(group))
        existing = self.households.get(cid)
        certified = self.certified[cid]
        if existing is not None:
            current = _Certified(certified).category_for(self.business_date.year)
            pairs = [
                ("full_name", full_name, existing.full_name),
                ("date_of_birth", born, existing.date_of_birth),
                ("sex", sex, existing.sex),
                ("village_code", village_code, existing.village.code),
                ("group_code", group_code, existing.group.code if existing.group else ""),
                ("phone", phone, existing.phone),
                ("category", category, current),
            ]
            if not self.unchanged("borrowers", number, pairs):
                return
            household = existing
        else:
            household = Household(
                office=self.office,
                full_name=full_name,
                citizen_id=cid,
                date_of_birth=born,
                sex=sex,
                phone=phone,
                village=village,
                group=group,
            )
            self.households[cid] = household
            self.new["households"].append(household)
            if group is not None:
                self.new["memberships"].append(
                    GroupMembership(group=group, household=household, joined_on=None)
                )
        for year in self.category_years:
            if year not in certified:
                certified[year] = category
                self.new["categories"].append((household, year, category))

    def check_loan(self, number, key, row) -> None:
        cid = _text(row, "citizen_id", max_length=12)
        programme = self.programmes.get(row.get("programme", ""))
        if programme is None:
            raise _Bad(
                "programme",
                _("%(v)r is not a programme code.") % {"v": cut(row.get("programme", ""))},
            )
        group_code = _text(row, "group_code", max_length=20, required=False)
        amount = _whole(row, "approved_amount")
        term = _whole(row, "term_months", high=MAX_TERM_MONTHS)
        approved_on = _date(row, "approved_on")
        self.check_date("approved_on", approved_on)
        purpose = _text(row, "purpose", max_length=500, required=False)
        workers = _whole(row, "workers_employed", low=0, high=MAX_WORKERS_EMPLOYED, default=0)
        works = _whole(row, "works_built", low=0, high=MAX_WORKS_BUILT, default=0)
        household = self.refer("loans", number, "citizen_id", cid, self.households, "borrowers")
        group = None
        if group_code:
            group = self.refer("loans", number, "group_code", group_code, self.groups, "groups")
        if household is None or (group_code and group is None):
            raise _Refused
        existing = self.loans.get(key)
        if existing is not None:
            pairs = [
                ("citizen_id", cid, existing.household.citizen_id),
                ("programme", programme.code, existing.programme.code),
                ("group_code", group_code, existing.group.code if existing.group else ""),
                ("approved_amount", amount, existing.approved_amount),
                ("term_months", term, existing.term_months),
                ("approved_on", approved_on, existing.approved_on),
                ("purpose", purpose, existing.purpose),
                ("workers_employed", workers, existing.workers_employed),
                ("works_built", works, existing.works_built),
            ]
            if not self.unchanged("loans", number, pairs):
                raise _Refused  # its entries would be checked against the loan it is not
            return
        certified = _Certified(self.certified[cid])
        memo_key = (
            programme.pk, certified.category_for(approved_on.year), amount, term,
            approved_on, workers, works,
        )  # fmt: skip
        if memo_key not in self.rules_memo:
            try:
                loan_check_rules(
                    household=certified,
                    programme=programme,
                    amount=amount,
                    term_months=term,
                    on=approved_on,
                    workers_employed=workers,
                    works_built=works,
                )
                self.rules_memo[memo_key] = None
            except ValidationError as exc:
                self.rules_memo[memo_key] = exc
        failure = self.rules_memo[memo_key]
        if failure is not None:
            self.rule_errors(number, failure)
            raise _Refused
        loan = Loan(
            office=self.office,
            number=key,
            household=household,
            programme=programme,
            group=group,
            status=Loan.Status.APPROVED,
            approved_amount=amount,
            term_months=term,
            applied_on=approved_on,
            approved_on=approved_on,
            purpose=purpose,
            workers_employed=workers,
            works_built=works,
            created_by=self.user,
        )
        self.loans[key] = loan
        self.new["loans"].append(loan)
        self.books[key] = Book(approved_amount=amount, approved_on=approved_on)

    def rule_errors(self, number: int, exc: ValidationError) -> None:
        columns = {"amount": "approved_amount", "term_months": "term_months"}
        if hasattr(exc, "error_dict"):
            for column, errors in exc.error_dict.items():
                for error in errors:
                    self.error("loans", number, columns.get(column, column), " ".join(error))
        else:
            self.error("loans", number, "approved_on", " ".join(exc.messages))

    def check_transaction(self, number, ref, row) -> None:
        loan_key = _text(row, "loan_number", max_length=40)
        kind = row.get("kind", "")
        if kind not in IMPORT_KINDS:
            raise _Bad(
                "kind",
                _("%(v)r is not one of %(codes)s.")
                % {"v": cut(kind), "codes": ", ".join(IMPORT_KINDS)},
            )
        value_date = _date(row, "value_date")
        amount = _whole(row, "amount")
        reverses = row.get("reverses", "")
        if kind == Kind.REVERSAL and not reverses:
            raise _Bad("reverses", _("A reversal names the entry it cancels."))
        if kind != Kind.REVERSAL and reverses:
            raise _Bad("reverses", _("Only a reversal names an entry to cancel."))
        existing = self.entries.get(ref)
        if existing is not None:
            pairs = [
                ("loan_number", loan_key, existing.loan_key),
                ("kind", kind, existing.kind),
                ("value_date", value_date, existing.value_date),
                ("amount", amount, existing.amount),
                ("reverses", reverses, existing.reverses),
            ]
            self.unchanged("transactions", number, pairs)
            return
        if loan_key not in self.loans:
            self.refer("transactions", number, "loan_number", loan_key, {}, "loans")
            raise _Refused
        if loan_key in self.bad["loans"]:
            raise _Refused
        self.check_date("value_date", value_date)
        if self.closed_through and value_date.replace(day=1) <= self.closed_through:
            raise _Bad("value_date", ledger.msg_month_closed(value_date))
        entry = Entry(
            reference=ref,
            loan_key=loan_key,
            kind=kind,
            value_date=value_date,
            amount=amount,
            row=number,
            reverses=reverses,
        )
        self.entries[ref] = entry
        self.loan_entries[loan_key].append(entry)

    # the balances, entry by entry

    def simulate(self) -> None:
        for loan_key, entries in self.loan_entries.items():
            if not any(e.row is not None for e in entries):
                continue  # nothing new for this loan
            book = self.books.get(loan_key)
            if book is None:  # a loan already in the database gets more history
                loan = self.loans[loan_key]
                book = Book(
                    approved_amount=loan.approved_amount,
                    approved_on=loan.approved_on or loan.applied_on,
                    transferred=loan.transferred_from_id is not None,
                )
                self.books[loan_key] = book
            # Existing entries first on a day, then the file's in file order.
            entries.sort(key=lambda e: (e.value_date, 0 if e.pk else 1, e.pk or 0, e.row or 0))
            for entry in entries:
                if entry.pk is not None:
                    self.replay(book, entry)
                else:
                    self.post(book, entry)

    def replay(self, book: Book, entry: Entry) -> None:
        change = ledger.disbursed_change(entry.kind, entry.counted_kind, entry.amount)
        if change:
            book.disbursed += change
            if book.first_disbursed_on is None and change > 0:
                book.first_disbursed_on = entry.value_date
            if book.disbursed == 0:
                book.first_disbursed_on = None
        if entry.kind == Kind.TRANSFER_IN:
            book.first_disbursed_on = book.first_disbursed_on or entry.value_date
        if not book.apply(entry):
            last = max((e for e in self.loan_entries[entry.loan_key] if e.row), key=lambda e: e.row)
            self.error(
                "transactions",
                last.row,
                "value_date",
                _("Entries dated before %(ref)s (already in the database) would leave its "
                  "balances inconsistent.") % {"ref": entry.reference or entry.pk},
            )  # fmt: skip
        entry.done = True

    def post(self, book: Book, entry: Entry) -> None:
        before = replace(book)  # the book as it was, should the entry be refused after its effect
        try:
            self.effect(book, entry)
        except _Bad as bad:
            entry.failed = True
            self.error("transactions", entry.row, bad.column, bad.message)
            return
        if not book.apply(entry):
            # A disbursement is bounded by the approved amount, but a transferred-in loan's
            # balance is not part of it: the two can sum beyond what a balance may hold.
            if book.outstanding > MAX_AMOUNT:
                message = _(
                    "The loan's outstanding principal would be %(n)s VND, more than a balance "
                    "may hold (at most %(max)s VND)."
                ) % {"n": group_thousands(book.outstanding), "max": group_thousands(MAX_AMOUNT)}
            else:
                message = ledger.msg_inconsistent()
            vars(book).update(vars(before))
            entry.failed = True
            self.error("transactions", entry.row, "amount", message)
            return
        if entry.target is not None:
            entry.target.reversed = True
        entry.done = True

    def effect(self, book: Book, entry: Entry) -> None:
        """Check the entry against the balances on its value date and set its ledger effect, as
        loans.services does for each kind."""
        amount, kind = entry.amount, entry.kind
        entry.counted_kind = kind
        if kind == Kind.DISBURSEMENT:
            if not ledger.may_disburse(book.status):
                raise _Bad("kind", ledger.msg_not_approved())
            if entry.value_date < book.approved_on:
                raise _Bad("value_date", ledger.msg_disbursed_before_approval())
            room = ledger.disbursement_room(book.approved_amount, book.disbursed)
            if amount > room:
                raise _Bad("amount", ledger.msg_disbursements_exceed(room))
            book.disbursed += ledger.disbursed_change(kind, kind, amount)
            book.first_disbursed_on = book.first_disbursed_on or entry.value_date
        elif kind == Kind.INTEREST_PAYMENT:
            if book.first_disbursed_on is None:
                raise _Bad("value_date", ledger.msg_interest_before_disbursement())
        elif kind == Kind.REVERSAL:
            self.reversal_effect(book, entry)
            return
        else:
            if not ledger.may_act_on(book.status):
                if first := self.disbursed_later(book, entry):
                    raise _Bad("value_date", ledger.msg_dated_before_disbursement(first))
                raise _Bad("value_date", ledger.msg_no_balance(book.status))
            if kind == Kind.PRINCIPAL_REPAYMENT:
                payable = ledger.repayable(book.outstanding, book.frozen)
                if amount > payable:
                    raise _Bad("amount", ledger.msg_repayment_exceeds(payable))
            elif kind == Kind.TRANSFER_TO_OVERDUE:
                if amount > book.in_term:
                    raise _Bad("amount", ledger.msg_overdue_exceeds_in_term(book.in_term))
            elif kind == Kind.WRITE_OFF and amount > book.outstanding:
                raise _Bad("amount", ledger.msg_write_off_exceeds(book.outstanding))
        entry.d_outstanding, entry.d_overdue, entry.d_frozen = ledger.effect(
            kind, amount, book.outstanding, book.overdue, book.frozen
        )

    def disbursed_later(self, book: Book, entry: Entry) -> dt.date | None:
        """The date of the loan's first disbursement, when it comes after this entry's value date
        (the services refuse such an entry with that date, ledger.msg_dated_before_disbursement)."""
        if book.first_disbursed_on is not None:
            return None
        return min(
            (
                e.value_date
                for e in self.loan_entries[entry.loan_key]
                if e.kind == Kind.DISBURSEMENT and not e.failed and e.value_date > entry.value_date
            ),
            default=None,
        )

    def reversal_effect(self, book: Book, entry: Entry) -> None:
        target = self.entries.get(entry.reverses)
        if target is None:
            if entry.reverses not in self.bad["transactions"]:
                raise _Bad(
                    "reverses",
                    _("No entry has the reference %(r)s.") % {"r": quote(entry.reverses)},
                )
            raise _Bad("reverses", _("The entry it cancels is itself in error."))
        if target.loan_key != entry.loan_key:
            raise _Bad(
                "reverses",
                _("Entry %(r)s belongs to another loan (%(n)s).")
                % {"r": entry.reverses, "n": target.loan_key},
            )
        if target.failed:
            raise _Bad("reverses", _("The entry it cancels is itself in error."))
        if refusal := ledger.refusal_to_reverse(target.kind):
            raise _Bad("reverses", refusal)
        if entry.value_date < target.value_date:
            raise _Bad("value_date", ledger.msg_reversal_before_entry())
        if not target.done:
            raise _Bad("reverses", _("A reversal comes after the entry it cancels in the file."))
        if target.reversed:
            raise _Bad("reverses", ledger.msg_already_reversed())
        if entry.amount != target.amount:
            raise _Bad(
                "amount",
                _("A reversal cancels the whole entry: the amount must be %(n)s VND.")
                % {"n": group_thousands(target.amount)},
            )
        if target.kind == Kind.DISBURSEMENT:
            if not ledger.disbursement_reversible(
                target.amount, book.outstanding, book.overdue, book.frozen
            ):
                raise _Bad("reverses", ledger.msg_disbursement_partly_repaid())
            book.disbursed += ledger.disbursed_change(entry.kind, target.kind, target.amount)
            if book.disbursed == 0:
                book.first_disbursed_on = None
        entry.counted_kind = target.kind
        entry.target = target
        entry.d_outstanding, entry.d_overdue, entry.d_frozen = ledger.reversal_effect(
            target.d_outstanding, target.d_overdue, target.d_frozen
        )
