"""The demo office's portfolio: Đan Phượng, 2016 – 15 June 2021, as import-format tables.

`build_demo_tables()` returns the six tables of docs/import-format (string values), ready for
`seeding.importer.import_portfolio`, so the demo goes through the same validation as real data.

The history is random but deterministic (a fixed seed), and then adjusted deterministically so that
the figures for 1 January – 15 June 2021 are exactly those the office published (domain.md):

- customers with balance and loan-turns hold by construction: exactly 8,827
  households keep a loan with a balance, exactly 1,665 loans (525 NSVS) are first disbursed in
  2021;
- workers employed are fixed by raising or lowering the workers of a few job-creation loans;
- disbursed is hit by adjusting the amounts of some 2021 loans (within their caps);
- collected by adjusting some 2021 repayments of loans that keep a balance;
- the opening balance by adjusting the last 2020 repayment of some loans that keep a balance;
- the written-off 3 million is one poor household's last instalment, forgiven on the borrower's
  death; the closing balance then follows from the roll-forward.

Principal amounts are multiples of 100,000 VND; interest is computed to the đồng.
"""

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from loans import ledger
from loans.interest import round_vnd
from loans.kinds import TransactionKind as Kind
from loans.models import add_months

from . import demo_data as data
from .programmes import ProgrammeTerms

SEED = 20210615
M = 1_000_000
U = 100_000  # principal moves in multiples of this
START = dt.date(2021, 1, 1)
AS_OF = dt.date(2021, 6, 15)
FIRST_MONTH = dt.date(2016, 1, 1)
LAST_OLD_MONTH = dt.date(2020, 12, 1)

TARGETS = {
    "disbursed": 61_582 * M,
    "collected": 45_312 * M,
    "written_off": 3 * M,
    "opening": 351_447 * M,
    "closing": 367_714 * M,
    "customers_with_balance": 8_827,
    "loan_turns": 1_665,
    "workers_employed": 1_136,
    "nsvs_turns": 525,
}
HOUSEHOLDS = 9_150
GROUPS = 300

# 2021 loan-turns per programme (they add up to 1,665, NSVS 525).
TURNS = {
    "NSVS": 525,
    "GQVL": 420,
    "XKLD": 65,
    "HSSV": 120,
    "HN": 60,
    "HCN": 260,
    "HMTN": 200,
    "NOXH": 15,
}
CATEGORY_PROGRAMME = {"poor": "HN", "near_poor": "HCN", "recently_out": "HMTN"}
# The terms the demo draws from (the import refuses any above the programme's maximum); rates,
# caps and the months between instalments are the programmes' own (ProgrammeRule, Programme).
TERMS = {
    "HN": [48, 60, 60, 84, 120, 120],
    "HCN": [48, 60, 60, 84, 120, 120],
    "HMTN": [48, 60, 60, 60],
    "GQVL": [48, 60, 60, 84, 120],
    "NSVS": [48, 60, 60, 60],
    "XKLD": [36, 36, 48],
    "NOXH": [180, 240, 300],
}

# Kinds, in the order they are posted when several fall on one loan on one day.
ORDER = {
    "disbursement": 0,
    "transfer_to_overdue": 1,
    "interest_payment": 2,
    "principal_repayment": 3,
    "write_off": 4,
    "reversal": 5,
}
REPOST = 6  # an entry posted again after the reversal of a wrong one


@dataclass
class Household:
    citizen_id: str
    full_name: str
    date_of_birth: dt.date
    sex: str
    village: str
    group: str
    day: int  # the commune transaction point's day
    category: str
    phone: str
    active: bool = False  # keeps a balance at AS_OF
    turn: bool = False
    programmes: set = field(default_factory=set)


@dataclass
class Entry:
    value_date: dt.date
    kind: str
    amount: int
    reverses: "Entry | None" = None
    reference: str = ""
    order: int = -1  # position among the loan's entries of the same day

    def __post_init__(self):
        if self.order < 0:
            self.order = ORDER[self.kind]


@dataclass
class Loan:
    household: Household
    programme: str
    group: str
    amount: int  # approved, VND
    term: int
    approved_on: dt.date
    purpose: str
    workers: int = 0
    works: int = 0
    role: str = "active"  # turn, active, settled, written_off
    adjustable: bool = True
    entries: list = field(default_factory=list)
    number: str = ""

    def add(self, day: dt.date, kind: str, amount: int, reverses=None, order=-1) -> Entry:
        entry = Entry(day, kind, amount, reverses, order=order)
        self.entries.append(entry)
        return entry

    def balance(self, up_to: dt.date = AS_OF) -> int:
        return sum(_effect(e) for e in self.entries if e.value_date <= up_to)


def _effect(entry: Entry) -> int:
    """The entry's effect on the outstanding principal, by the rulebook (loans.ledger); the
    generator's entries are of the import's kinds, whose outstanding effect needs no balances."""
    if entry.kind == Kind.REVERSAL:
        return ledger.reversal_effect(_effect(entry.reverses), 0, 0)[0]
    return ledger.effect(entry.kind, entry.amount, 0, 0, 0)[0]


def _weighted(rng: random.Random, pairs):
    names, weights = zip(*pairs, strict=True)
    return rng.choices(names, weights)[0]


def _attempts(limit: int = 1_000_000):
    """Iterations of an adjustment loop; one that cannot converge fails loudly."""
    yield from range(limit)
    raise RuntimeError("The demo adjustments did not converge.")


def _may_borrow(household: Household, programme: str) -> bool:
    """Category programmes lend to their category; clean water to anyone; the other programmes
    (open to all) go to ordinary households in the demo."""
    own = CATEGORY_PROGRAMME.get(household.category)
    if programme in CATEGORY_PROGRAMME.values():
        return programme == own
    return programme == "NSVS" or own is None


def _day(household: Household, year: int, month: int) -> dt.date:
    return dt.date(year, month, household.day)


def _months(first: dt.date, last: dt.date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


class DemoBuilder:
    def __init__(
        self,
        old_scale: float = 1.0,
        turn_scale: float = 1.0,
        terms: ProgrammeTerms | None = None,
    ):
        self.rng = random.Random(SEED)
        self.old_scale = old_scale
        self.turn_scale = turn_scale
        self._terms = terms
        self.communes: list[dict] = []
        self.villages: list[dict] = []
        self.groups: list[dict] = []
        self.households: list[Household] = []
        self.loans: list[Loan] = []

    @cached_property
    def terms(self) -> ProgrammeTerms:
        """The programmes' rules, read when first needed (places and households need none)."""
        return self._terms or ProgrammeTerms()

    def cap_u(self, programme: str, day: dt.date) -> int:
        """The programme's cap on a day (per worker for GQVL, per work for NSVS), in units of U."""
        return self.terms.on(programme, day).max_amount // U

    # --- places, groups, households ---------------------------------------------------------

    def build_places(self) -> None:
        rng = self.rng
        village_days = []
        for code, name, _kind, day, villages in data.COMMUNES:
            self.communes.append({"code": code, "name": name, "transaction_day": str(day)})
            for i, village in enumerate(villages, 1):
                vcode = f"{code}-{i:02d}"
                self.villages.append({"code": vcode, "commune_code": code, "name": village})
                village_days.append((vcode, village, code, day))
        # Every commune has a chapter of each organisation with at least one group; the other
        # groups follow the organisations' shares.
        orgs = []
        for org, share, _label in data.ORGANISATIONS:
            orgs += [org] * round(GROUPS * share)
        per_commune = {code: [] for code, *_ in data.COMMUNES}
        for org, *_ in data.ORGANISATIONS:
            for code in per_commune:
                per_commune[code].append(org)
                orgs.remove(org)
        rng.shuffle(orgs)
        weights = [len(v) for *_, v in data.COMMUNES]
        for org in orgs:
            code = rng.choices(list(per_commune), weights)[0]
            per_commune[code].append(org)
        labels = {org: label for org, _s, label in data.ORGANISATIONS}
        seq = 0
        for code, villages in per_commune.items():
            own = [v for v in village_days if v[2] == code]
            rng.shuffle(villages)
            for i, org in enumerate(villages):
                vcode, vname, _c, day = own[i % len(own)]
                seq += 1
                female = org == "women" or (org == "youth" and rng.random() < 0.5)
                self.groups.append(
                    {
                        "code": f"DP-T{seq:03d}",
                        "village_code": vcode,
                        "organisation": org,
                        "name": f"Tổ TK&VV {labels[org]} {vname} {i // len(own) + 1}",
                        "head_name": self.person_name("F" if female else "M"),
                        "_day": day,
                    }
                )

    def person_name(self, sex: str) -> str:
        rng = self.rng
        family = _weighted(rng, data.FAMILY_NAMES)
        if sex == "F":
            return f"{family} {_weighted(rng, data.FEMALE_MIDDLE)} {rng.choice(data.FEMALE_GIVEN)}"
        return f"{family} {_weighted(rng, data.MALE_MIDDLE)} {rng.choice(data.MALE_GIVEN)}"

    def build_households(self) -> None:
        rng = self.rng
        sizes = [rng.randint(15, 46) for _ in self.groups]
        while sum(sizes) != HOUSEHOLDS:
            i = rng.randrange(len(sizes))
            sizes[i] += 1 if sum(sizes) < HOUSEHOLDS else -1
            sizes[i] = min(60, max(3, sizes[i]))
        serials = rng.sample(range(1, 1_000_000), HOUSEHOLDS)
        categories = [("poor", 6), ("near_poor", 18), ("recently_out", 10), ("ordinary", 66)]
        for group, size in zip(self.groups, sizes, strict=True):
            for _ in range(size):
                women = 0.9 if group["organisation"] == "women" else 0.35
                sex = "F" if rng.random() < women else "M"
                born = dt.date(rng.randint(1952, 1994), rng.randint(1, 12), rng.randint(1, 28))
                digit = (born.year // 100 - 19) * 2 + (sex == "F")
                serial = serials[len(self.households)]
                phone = ""
                if rng.random() < 0.65:
                    phone = rng.choice(data.PHONE_PREFIXES) + f"{rng.randrange(10**7):07d}"
                self.households.append(
                    Household(
                        citizen_id=f"{data.PROVINCE_CODE}{digit}{born.year % 100:02d}{serial:06d}",
                        full_name=self.person_name(sex),
                        date_of_birth=born,
                        sex=sex,
                        village=group["village_code"],
                        group=group["code"],
                        day=group["_day"],
                        category=_weighted(rng, categories),
                        phone=phone,
                    )
                )
        for household in rng.sample(self.households, TARGETS["customers_with_balance"]):
            household.active = True

    # --- loans ----------------------------------------------------------------------------------

    def new_loan(self, household, programme, amount_u, term, approved_on, **kw) -> Loan:
        group = "" if programme == "NOXH" else household.group
        loan = Loan(
            household=household,
            programme=programme,
            group=group,
            amount=amount_u * U,
            term=term,
            approved_on=approved_on,
            purpose=self.rng.choice(data.PURPOSES[programme]),
            **kw,
        )
        household.programmes.add(programme)
        self.loans.append(loan)
        return loan

    def amount_u(
        self, programme: str, scale: float, on: dt.date, workers: int = 1, works: int = 1
    ) -> int:
        """A typical amount for the programme, in units of U, scaled and within its cap on a
        day."""
        rng = self.rng
        if programme == "NSVS":
            return works * rng.choice([80, 90, 100, 100])
        if programme == "NOXH":
            base = rng.randint(30, 60) * 100
        elif programme == "GQVL":
            base = rng.randint(5, 14) * 50 + (workers - 1) * 150
        else:
            base = rng.randint(6, 16) * 50
        cap = self.cap_u(programme, on) * (workers if programme == "GQVL" else 1)
        return max(100, min(cap, round(base * scale / 10) * 10))

    def build_turns(self) -> None:
        """Exactly TURNS loans first disbursed between 1 January and 15 June 2021."""
        rng = self.rng
        free = [h for h in self.households if h.active]
        rng.shuffle(free)
        months = [(1, 15), (2, 10), (3, 20), (4, 20), (5, 20), (6, 15)]
        for programme, count in TURNS.items():
            eligible = [h for h in free if not h.turn and _may_borrow(h, programme)]
            if len(eligible) < count:
                raise RuntimeError(f"Not enough households for {count} {programme} loans.")
            for household in eligible[:count]:
                household.turn = True
                month = _weighted(rng, months)
                day = _day(household, 2021, month)
                if day > AS_OF:
                    day = _day(household, 2021, month - 1)
                approved = day - dt.timedelta(days=rng.randint(2, 12))
                workers = works = 0
                if programme == "HSSV":
                    semesters = rng.randint(2, 8)
                    tranche = rng.choice([125, 150])
                    loan = self.new_loan(
                        household,
                        programme,
                        tranche * semesters,
                        semesters * 6 + 12 + rng.choice([24, 36, 48]),
                        approved,
                        role="turn",
                        adjustable=False,
                    )
                    loan.add(day, "disbursement", tranche * U)
                    continue
                if programme == "GQVL":
                    workers = _weighted(rng, [(1, 22), (2, 30), (3, 32), (4, 16)])
                elif programme == "XKLD":
                    workers = 1
                elif programme == "NSVS":
                    works = _weighted(rng, [(1, 30), (2, 70)])
                amount = self.amount_u(
                    programme, self.turn_scale, approved, workers=max(workers, 1), works=works or 1
                )
                term = rng.choice(TERMS[programme])
                loan = self.new_loan(
                    household,
                    programme,
                    amount,
                    term,
                    approved,
                    role="turn",
                    workers=workers,
                    works=works,
                    adjustable=programme != "NSVS",
                )
                loan.add(day, "disbursement", amount * U)

    def old_programme(self, household: Household) -> str:
        rng = self.rng
        own = CATEGORY_PROGRAMME.get(household.category)
        choices = (
            [(own, 82), ("NSVS", 15), ("HSSV", 3)]
            if own
            else [("GQVL", 44), ("NSVS", 44), ("HSSV", 3), ("XKLD", 8), ("NOXH", 1)]
        )
        for _ in range(10):
            programme = _weighted(rng, choices)
            if programme not in household.programmes:
                return programme
        return "NSVS" if "NSVS" not in household.programmes else "HSSV"

    def build_old(self) -> None:
        rng = self.rng
        for household in self.households:
            if household.active:
                if not household.turn or rng.random() < 0.25:
                    self.old_loan(household, "active")
                if not household.turn and rng.random() < 0.18:
                    self.old_loan(household, "active")
                if rng.random() < 0.30:
                    self.old_loan(household, "settled")
            else:
                for _ in range(rng.choice([1, 1, 2])):
                    self.old_loan(household, "settled")

    def old_loan(self, household: Household, role: str) -> Loan:
        rng = self.rng
        programme = self.old_programme(household)
        if programme == "NOXH" and role == "settled":
            programme = "GQVL"  # no 25-year loan is settled yet
        if programme == "HSSV":
            return self.old_student_loan(household, role)
        workers = works = 0
        if programme == "GQVL":
            workers = _weighted(rng, [(1, 30), (2, 40), (3, 30)])
        elif programme == "XKLD":
            workers = 1
        elif programme == "NSVS":
            works = _weighted(rng, [(1, 35), (2, 65)])
        terms = TERMS[programme]
        last = _months(FIRST_MONTH, LAST_OLD_MONTH)
        horizon = _months(FIRST_MONTH, AS_OF)
        if role == "active":
            term = rng.choice(terms)
            # Mature after 15 June 2021, with at least one instalment still to come.
            earliest = max(0, horizon - term + 1)
            offset = rng.randint(min(earliest, last), last)
        else:
            term = rng.choice([t for t in terms if t <= 60] or [min(terms)])
            offset = rng.randint(0, max(0, horizon - term - 1))
        start = add_months(FIRST_MONTH, offset)
        day = _day(household, start.year, start.month)
        # The cap on the first disbursement's day (the approval, drawn below, is days before).
        amount = self.amount_u(
            programme, self.old_scale, day, workers=max(workers, 1), works=works or 1
        )
        loan = self.new_loan(
            household,
            programme,
            amount,
            term,
            day - dt.timedelta(days=rng.randint(3, 15)),
            role=role,
            workers=workers,
            works=works,
        )
        loan.add(day, "disbursement", amount * U)
        self.repay_by_schedule(loan, day, amount, term, self.terms.instalment_months[programme])
        return loan

    def repay_by_schedule(self, loan: Loan, first: dt.date, amount: int, term: int, step: int):
        """Equal instalments every `step` months to maturity; a few late (overdue, then paid)."""
        rng = self.rng
        count = max(1, term // step)
        base = amount // count
        for seq in range(1, count + 1):
            due = add_months(first, term if seq == count else seq * step)
            if due > AS_OF:
                break
            instalment = base if seq < count else amount - base * (count - 1)
            late = due + dt.timedelta(days=1) <= AS_OF
            if loan.role == "active" and late and rng.random() < 0.03:
                loan.adjustable = False
                loan.add(due + dt.timedelta(days=1), "transfer_to_overdue", instalment * U)
                paid = add_months(due, rng.choice([1, 2, 3]))
                if paid <= AS_OF:
                    loan.add(paid, "principal_repayment", instalment * U)
                continue
            loan.add(due, "principal_repayment", instalment * U)

    def old_student_loan(self, household: Household, role: str) -> Loan:
        """Tranches each semester (September, February), repaid after graduation."""
        rng = self.rng
        semesters = rng.randint(4, 8)
        tranche = rng.choice([100, 125, 150]) if role == "active" else 100
        repay_months = rng.choice([24, 36, 48])
        study = semesters * 6
        term = study + 12 + repay_months
        if role == "active":
            year = rng.randint(2016, 2020)
        else:
            year = 2016 if term > 54 else rng.randint(2016, 2017)
            semesters, study, repay_months = 4, 24, 24
            term = study + 12 + repay_months
        first = _day(household, year, 9)
        if role == "settled" and add_months(first, term) > AS_OF:
            first = _day(household, 2016, 1)
        approved = tranche * semesters
        loan = self.new_loan(
            household,
            "HSSV",
            approved,
            term,
            first - dt.timedelta(days=rng.randint(3, 15)),
            role=role,
            adjustable=False,
        )
        disbursed = 0
        for k in range(semesters):
            day = add_months(first, 6 * k)
            if day <= AS_OF:
                loan.add(day, "disbursement", tranche * U)
                disbursed += tranche
        count = repay_months // 6
        base = disbursed // count
        repay_from = add_months(first, study + 12)
        for seq in range(1, count + 1):
            due = add_months(repay_from, seq * 6 - 6 if seq < count else repay_months)
            if due > AS_OF:
                break
            amount = base if seq < count else disbursed - base * (count - 1)
            loan.add(due, "principal_repayment", amount * U)
        if role == "active" and loan.balance() <= 0:
            # Finished already: keep the last instalment for after 15 June.
            loan.entries.pop()
        return loan

    def build_write_offs(self) -> None:
        """Four debts forgiven before 2021, and the 3 million of 2021 (a poor borrower's death)."""
        rng = self.rng
        inactive_poor = [h for h in self.households if not h.active and h.category == "poor"]
        inactive = [h for h in self.households if not h.active and h.category == "near_poor"]
        household = inactive_poor[0]
        first = _day(household, 2016, 4)
        loan = self.new_loan(
            household, "HN", 300, 60, first - dt.timedelta(days=7), role="written_off"
        )
        loan.adjustable = False
        loan.add(first, "disbursement", 300 * U)
        for seq in range(1, 10):
            loan.add(add_months(first, seq * 6), "principal_repayment", 30 * U)
        loan.add(_day(household, 2021, 3), "write_off", TARGETS["written_off"])
        for household in inactive[:4]:
            year = rng.randint(2016, 2017)
            first = _day(household, year, rng.randint(1, 12))
            amount = rng.randint(6, 10) * 50
            loan = self.new_loan(
                household, "HCN", amount, 60, first - dt.timedelta(days=9), role="written_off"
            )
            loan.adjustable = False
            loan.add(first, "disbursement", amount * U)
            paid = 0
            for seq in range(1, rng.randint(2, 5)):
                loan.add(add_months(first, seq * 6), "principal_repayment", amount // 10 * U)
                paid += amount // 10
            loan.add(add_months(first, seq * 6 + 2), "write_off", (amount - paid) * U)

    # --- hitting the published figures exactly ---------------------------------------------

    def fix_workers(self) -> None:
        rng = self.rng
        turns = [ln for ln in self.loans if ln.role == "turn" and ln.workers]
        gqvl = [ln for ln in turns if ln.programme == "GQVL"]
        diff = TARGETS["workers_employed"] - sum(ln.workers for ln in turns)
        for _attempt in _attempts():
            if not diff:
                break
            loan = rng.choice(gqvl)
            cap = self.terms.on(loan.programme, loan.approved_on).max_amount  # per worker
            if diff > 0 and loan.workers < 6:
                loan.workers += 1
                diff -= 1
            elif diff < 0 and loan.workers > 1 and loan.amount <= (loan.workers - 1) * cap:
                loan.workers -= 1
                diff += 1

    def in_period(self, kind: str, loans=None) -> int:
        return sum(
            e.amount
            for ln in loans or self.loans
            for e in ln.entries
            if e.kind == kind and START <= e.value_date <= AS_OF
        )

    def fix_disbursed(self) -> None:
        rng = self.rng
        adjustable = [ln for ln in self.loans if ln.role == "turn" and ln.adjustable]
        diff = (TARGETS["disbursed"] - self.in_period("disbursement")) // U
        for _attempt in _attempts():
            if not diff:
                break
            loan = rng.choice(adjustable)
            amount = loan.amount // U
            cap = self.cap_u(loan.programme, loan.approved_on) * max(1, loan.workers)
            room = cap - amount if diff > 0 else amount - 100
            step = min(abs(diff), room, 50)
            if step <= 0:
                continue
            step = step if diff > 0 else -step
            loan.amount += step * U
            loan.entries[0].amount += step * U
            diff -= step

    def _shift(self, candidates, diff: int) -> None:
        """Change repayments (Entry objects of loans that keep a balance) by `diff` units of U in
        total, keeping each repayment at 1 M or more and each loan's balance at 1 M or more."""
        rng = self.rng
        for _attempt in _attempts():
            if not diff:
                break
            loan, entry = rng.choice(candidates)
            room = (loan.balance() if diff > 0 else entry.amount) // U - 10
            step = min(abs(diff), room, 20)
            if step <= 0:
                continue
            step = step if diff > 0 else -step
            entry.amount += step * U
            diff -= step

    def fix_collected(self) -> None:
        candidates = [
            (ln, e)
            for ln in self.loans
            if ln.role == "active" and ln.adjustable and ln.programme != "HSSV"
            for e in ln.entries
            if e.kind == "principal_repayment" and START <= e.value_date <= AS_OF
        ]
        self._shift(candidates, (TARGETS["collected"] - self.in_period("principal_repayment")) // U)

    def fix_opening(self) -> None:
        candidates = []
        for loan in self.loans:
            if loan.role == "active" and loan.adjustable and loan.programme != "HSSV":
                before = [
                    e
                    for e in loan.entries
                    if e.kind == "principal_repayment" and e.value_date < START
                ]
                if before:
                    candidates.append((loan, before[-1]))
        opening = sum(ln.balance(START - dt.timedelta(days=1)) for ln in self.loans)
        # A larger 2020 repayment lowers the opening balance.
        self._shift(candidates, (opening - TARGETS["opening"]) // U)

    # --- interest and corrections ------------------------------------------------------------

    def add_interest(self) -> None:
        """Half-yearly (June, December) before 2021 and monthly in 2021, on the commune day, on
        the balance before that day's principal entries; and at settlement for the months since
        the last payment."""
        for loan in self.loans:
            entries = sorted(loan.entries, key=lambda e: (e.value_date, ORDER[e.kind]))
            effects = [_effect(e) for e in entries]
            first = entries[0].value_date
            # The rate of the rule in force at approval.
            rate = self.terms.on(loan.programme, loan.approved_on).monthly_rate / 100
            balance, i, paid_to = 0, 0, first
            year, month = first.year, first.month
            while True:
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                day = dt.date(year, month, loan.household.day)
                if day > AS_OF or (loan.role == "written_off" and year >= 2021):
                    break
                while i < len(entries) and entries[i].value_date < day:
                    balance += effects[i]
                    i += 1
                after, j = balance, i
                while j < len(entries) and entries[j].value_date == day:
                    after += effects[j]
                    j += 1
                if balance > 0 and (year >= 2021 or month % 6 == 0 or after <= 0):
                    months = _months(paid_to, day) or 1
                    amount = round_vnd(Decimal(balance) * rate * months)
                    if amount > 0:
                        loan.add(day, "interest_payment", amount)
                    paid_to = day
                elif balance <= 0 and i >= len(entries):
                    break

    def add_corrections(self) -> None:
        """A few entries corrected by reversal, as happens at any office."""
        rng = self.rng

        def pick(kind, role, count):
            found = [
                (ln, e)
                for ln in self.loans
                if ln.role == role
                for e in ln.entries
                if e.kind == kind and START <= e.value_date <= AS_OF - dt.timedelta(days=1)
            ]
            found.sort(key=lambda p: (p[1].value_date, p[0].household.citizen_id))
            return rng.sample(found, count)

        for loan, entry in pick("disbursement", "turn", 2):
            # Posted to the wrong loan's form and reversed the next day, then posted again.
            later = entry.value_date + dt.timedelta(days=1)
            loan.add(later, "reversal", entry.amount, reverses=entry)
            loan.add(later, "disbursement", entry.amount, order=REPOST)
        for loan, entry in pick("principal_repayment", "active", 3):
            later = entry.value_date + dt.timedelta(days=1)
            loan.add(later, "reversal", entry.amount, reverses=entry)
            loan.add(later, "principal_repayment", entry.amount, order=REPOST)
        for loan, entry in pick("interest_payment", "active", 4):
            # A typing error: the amount was 10,000 đồng too high.
            wrong = loan.add(entry.value_date, "interest_payment", entry.amount + 10_000)
            loan.entries.remove(entry)
            later = entry.value_date + dt.timedelta(days=1)
            loan.add(later, "reversal", wrong.amount, reverses=wrong)
            loan.add(later, "interest_payment", entry.amount, order=REPOST)

    # --- output ---------------------------------------------------------------------------------

    def number_loans(self) -> None:
        self.loans.sort(key=lambda ln: (ln.approved_on, ln.household.citizen_id, ln.programme))
        per_year: dict[int, int] = {}
        for loan in self.loans:
            year = loan.approved_on.year
            per_year[year] = per_year.get(year, 0) + 1
            loan.number = f"{data.OFFICE_CODE}-{year}-{per_year[year]:05d}"

    def tables(self) -> dict[str, list[dict[str, str]]]:
        self.number_loans()
        rows = []
        for loan in self.loans:
            for seq, entry in enumerate(loan.entries):
                rows.append((entry.value_date, loan.number, entry.order, seq, loan, entry))
        rows.sort(key=lambda r: r[:4])
        transactions = []
        for n, (_d, _n, _o, _s, loan, entry) in enumerate(rows, 1):
            entry.reference = f"DP{n:07d}"
            transactions.append(
                {
                    "reference": entry.reference,
                    "loan_number": loan.number,
                    "kind": entry.kind,
                    "value_date": entry.value_date.isoformat(),
                    "amount": str(entry.amount),
                    "reverses": entry.reverses.reference if entry.reverses else "",
                }
            )
        return {
            "communes": self.communes,
            "villages": self.villages,
            "groups": [{k: v for k, v in g.items() if not k.startswith("_")} for g in self.groups],
            "borrowers": [
                {
                    "citizen_id": h.citizen_id,
                    "full_name": h.full_name,
                    "date_of_birth": h.date_of_birth.isoformat(),
                    "sex": h.sex,
                    "village_code": h.village,
                    "group_code": h.group,
                    "category": h.category,
                    "phone": h.phone,
                }
                for h in self.households
            ],
            "loans": [
                {
                    "loan_number": ln.number,
                    "citizen_id": ln.household.citizen_id,
                    "programme": ln.programme,
                    "group_code": ln.group,
                    "approved_amount": str(ln.amount),
                    "term_months": str(ln.term),
                    "approved_on": ln.approved_on.isoformat(),
                    "purpose": ln.purpose,
                    "workers_employed": str(ln.workers),
                    "works_built": str(ln.works),
                }
                for ln in self.loans
            ],
            "transactions": transactions,
        }

    def build_principal(self) -> "DemoBuilder":
        self.build_places()
        self.build_households()
        self.build_turns()
        self.build_old()
        self.build_write_offs()
        return self


def build_demo_tables() -> dict[str, list[dict[str, str]]]:
    """The demo portfolio as import tables. Deterministic: the same tables on every call."""
    terms = ProgrammeTerms()
    # Calibrate the typical amounts on a first draw so the adjustments stay small.
    probe = DemoBuilder(terms=terms).build_principal()
    opening = sum(ln.balance(START - dt.timedelta(days=1)) for ln in probe.loans)
    turns = [ln for ln in probe.loans if ln.role == "turn" and ln.adjustable]
    fixed = probe.in_period("disbursement") - probe.in_period("disbursement", turns)
    old_scale = TARGETS["opening"] / opening
    turn_scale = (TARGETS["disbursed"] - fixed) / probe.in_period("disbursement", turns)
    builder = DemoBuilder(old_scale=old_scale, turn_scale=turn_scale, terms=terms).build_principal()
    builder.fix_workers()
    builder.fix_disbursed()
    builder.fix_collected()
    builder.fix_opening()
    builder.add_interest()
    builder.add_corrections()
    return builder.tables()
