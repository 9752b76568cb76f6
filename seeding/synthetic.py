"""A synthetic, province-sized office for benchmarks: organisation, households, loans, schedules
and a ledger history, loaded with PostgreSQL COPY.

The data obeys the invariants of real data (every loan's cached balances equal its ledger sums,
balances never negative, overdue + frozen <= outstanding, disbursed <= approved, unique keys,
valid citizen IDs, eligible programmes, schedules consistent with the overdue entries), but it is
generated here rather than posted through loans.services: posting 5 million entries one by one
through the services would take hours. Each loan's history is simulated in Python with the
rulebook the services post with (loans.ledger: each entry's effect, the reduction orders, a
reversal's negation, the settle status), then written in chunks through COPY so memory stays
bounded whatever the size.

The loading transaction runs with ``session_replication_role = replica``. That disables the
non-ALWAYS triggers for this transaction only:

- the deferred ``loan_cache_matches_ledger`` constraint trigger, which would re-sum every loan's
  ledger at commit (one index scan per loan: minutes for 400,000 loans). ``seed_office`` runs the
  same comparison as one set-based query (``loans.selectors.ledger_mismatches``) before it
  commits and rolls everything back if a single loan differs;
- the pghistory insert triggers (synthetic rows need no "created" history events);
- the foreign-key triggers: ids are assigned here from reserved sequence blocks, and a set-based
  orphan check runs before commit instead.

CHECK, NOT NULL and UNIQUE constraints stay enforced by PostgreSQL during the load.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction

from borrowers.citizen_id import century_sex_digit
from borrowers.models import Office, Organisation
from loans import ledger
from loans.ledger import (
    consistent,
    disbursed_change,
    disbursement_effect,
    freeze_effect,
    repayable,
    repayment_effect,
    reversal_effect,
    transfer_to_overdue_effect,
    write_off_effect,
)
from loans.models import Programme, TransactionKind, add_months
from loans.selectors import ledger_mismatches

from .bulk import copy_rows, copy_text, reserve_ids
from .programmes import ProgrammeTerms

M = 1_000_000
EARLIEST = dt.date(2015, 2, 1)  # programme rules start on 1 Jan 2015

# Family names of the North with their approximate shares (%); Nguyễn is ~38 %.
FAMILY_NAMES = {
    "Nguyễn": 38.4, "Trần": 11.0, "Lê": 9.5, "Phạm": 7.1, "Hoàng": 4.1, "Phan": 4.5, "Vũ": 3.9,
    "Đặng": 2.1, "Bùi": 2.0, "Đỗ": 1.4, "Hồ": 1.3, "Ngô": 1.3, "Dương": 1.0, "Lý": 0.5,
    "Đào": 0.8, "Đoàn": 0.7, "Trịnh": 0.6, "Đinh": 0.6, "Hà": 0.6, "Mai": 0.5, "Lương": 0.5,
    "Tạ": 0.4, "Cao": 0.4, "Phùng": 0.4, "Võ": 0.4, "Huỳnh": 0.3, "Lưu": 0.3, "Kiều": 0.3,
    "Chu": 0.3, "Tô": 0.3, "Vương": 0.3, "Khúc": 0.2, "Nghiêm": 0.2, "Quách": 0.2, "Lại": 0.2,
}  # fmt: skip
MIDDLE_F = ["Thị"] * 13 + ["Ngọc", "Thu", "Thanh", "Minh", "Hồng", "Kim", "Bích", "Phương"]
MIDDLE_M = ["Văn"] * 10 + ["Đức", "Minh", "Quang", "Hữu", "Công", "Xuân", "Đình", "Mạnh", "Thế"]
GIVEN_F = (  # noqa: SIM905 (a list literal of 50 names is harder to read)
    "Hằng Lan Hương Hoa Mai Linh Thảo Trang Hà Nga Thủy Hạnh Yến Dung Phương Huyền Ngọc Loan "
    "Thu Nhung Hồng Vân Liên Tuyết Oanh Hiền Bích Châu Quyên Xuân Nguyệt Giang Thanh Tâm Duyên "
    "Sen Cúc Đào Huệ Lụa Mến Thơm Nhàn Gấm Hậu Lý Tươi Hòa Chinh Nhài"
).split()
GIVEN_M = (  # noqa: SIM905 (a list literal of 50 names is harder to read)
    "Hùng Dũng Tuấn Minh Hải Nam Sơn Thắng Long Cường Đức Hưng Quang Thành Trung Bình Hòa "
    "Phong Tùng Khánh Việt Lâm Toàn Hiếu Kiên Đạt Thịnh Vinh Tiến Hoàng Huy Phúc Lợi Chiến "
    "Hậu Bảo Tài Quý Định Khải Luận Nghĩa Thuận Vượng Tuyến Quyết Sáng Chung"
).split()
SYLLABLES = (  # noqa: SIM905 (a list literal of 50 names is harder to read)
    "An Bình Cát Diễn Đông Hòa Hồng Hưng Khánh Lâm Liên Long Minh Nam Ngọc Phú Phúc Phượng "
    "Quang Sơn Tân Thái Thanh Thượng Thọ Tiến Trung Vạn Xuân Yên Đại Hạ Hữu Kim Lạc Mỹ Nghĩa"
).split()

# Programme mix by household category: (code, weight).
PROGRAMME_MIX = {
    "poor": [("HN", 55), ("NSVS", 20), ("HSSV", 10), ("GQVL", 10), ("XKLD", 3), ("NOXH", 2)],
    "near_poor": [("HCN", 55), ("NSVS", 20), ("HSSV", 12), ("GQVL", 10), ("XKLD", 2), ("NOXH", 1)],
    "recently_out": [
        ("HMTN", 55), ("NSVS", 20), ("HSSV", 12), ("GQVL", 10), ("XKLD", 2), ("NOXH", 1),
    ],
    "ordinary": [("GQVL", 45), ("NSVS", 35), ("HSSV", 12), ("XKLD", 4), ("NOXH", 4)],
}  # fmt: skip
CATEGORIES = [("poor", 30), ("near_poor", 30), ("recently_out", 15), ("ordinary", 25)]
# The terms the seeder draws from, within every programme rule's maximum (checked against the
# rules before seeding); rates and the months between instalments are the programmes' own.
TERMS = {
    "HN": [36, 48, 60, 84, 120], "HCN": [36, 48, 60, 84, 120], "HMTN": [36, 48, 60],
    "GQVL": [24, 36, 48, 60, 120], "HSSV": [60, 84, 120], "NSVS": [36, 48, 60],
    "XKLD": [12, 24, 36, 60], "NOXH": [180, 240, 300],
}  # fmt: skip
ORG_SHARES = [("women", 42), ("farmers", 36), ("veterans", 14), ("youth", 8)]
WRITE_OFF_REASONS = ["người vay chết", "thiên tai", "mất tích", "dịch bệnh"]

PROGRESS = Callable[[str], None]


@dataclass
class SeedResult:
    office: Office
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)


class SeedRefused(Exception):
    """The office already holds data and --replace was not given."""


class Dates:
    """ISO strings of dates by ordinal, cached (the ledger repeats a few thousand dates)."""

    def __init__(self) -> None:
        self._iso: dict[int, str] = {}

    def iso(self, ordinal: int) -> str:
        s = self._iso.get(ordinal)
        if s is None:
            s = self._iso[ordinal] = dt.date.fromordinal(ordinal).isoformat()
        return s


# --- the seeder -------------------------------------------------------------------------------


def seed_office(
    *,
    code: str,
    households: int,
    loans: int,
    entries: int,
    seed: int = 1,
    replace: bool = False,
    business_date: dt.date = dt.date(2021, 6, 15),
    name: str | None = None,
    chunk_loans: int = 20_000,
    progress: PROGRESS | None = None,
) -> SeedResult:
    """Create (or replace) office `code` with the given numbers of households, loans and ledger
    entries, deterministically from `seed`. All or nothing: one transaction."""
    say = progress or (lambda _msg: None)
    if households < 1 or loans < 0 or entries < 0:
        raise ValueError("households must be positive, loans and entries not negative")
    if loans and entries < loans:
        raise ValueError("a seeded loan history needs at least one entry per loan")
    if entries and not loans:
        raise ValueError("entries need loans")
    rng = random.Random(seed)
    result = SeedResult(office=None)  # type: ignore[arg-type]
    started = time.monotonic()

    def phase(label: str, t0: float) -> float:
        t1 = time.monotonic()
        result.timings.append((label, t1 - t0))
        say(f"{label}: {t1 - t0:.1f} s")
        return t1

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        t = time.monotonic()
        office = _prepare_office(cursor, code, name, business_date, replace)
        result.office = office
        business_date = office.business_date
        t = phase("prepare office", t)

        org = _seed_organisation(cursor, rng, office, households)
        result.counts.update(org.counts)
        t = phase("organisation (communes, villages, chapters, groups)", t)

        people = _seed_households(cursor, rng, office, org, households, business_date)
        result.counts.update(people.counts)
        t = phase("households, categories, memberships", t)

        ledger = _seed_loans(
            cursor, rng, office, people, loans, entries, business_date, chunk_loans, say
        )
        result.counts.update(ledger)
        t = phase("loans, instalments, ledger entries", t)

        # Replica mode kept the outbox's triggers off: the office's entries join the feed here.
        cursor.execute("SELECT outbox_backfill(%s)", [office.pk])
        t = phase("outbox", t)

        problems = _verify(cursor, office)
        if problems:
            raise AssertionError("synthetic data inconsistent: " + "; ".join(problems))
        say("check: every loan's cached balances equal its ledger sums; no orphan rows")
        t = phase("verify (ledger_mismatches + orphan checks)", t)
    # VACUUM ANALYZE after commit (VACUUM cannot run in a transaction): statistics for the
    # planner, and the visibility map so that counts can use index-only scans at once.
    with connection.cursor() as cursor:
        for table in (
            "borrowers_commune", "borrowers_village", "borrowers_chapter",
            "borrowers_savingsgroup", "borrowers_household", "borrowers_householdcategory",
            "borrowers_groupmembership", "loans_loan", "loans_instalment",
            "loans_loantransaction", "outbox_outboxentry",
        ):  # fmt: skip
            # Inside an outer transaction (tests), ANALYZE alone.
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            cursor.execute(f"{verb} {table}")
    t = phase("vacuum analyze", t)
    result.timings.append(("total", time.monotonic() - started))
    return result


def _prepare_office(cursor, code, name, business_date, replace) -> Office:
    office = Office.objects.filter(code=code).first()
    if office is None:
        return Office.objects.create(
            code=code,
            name=name or f"Phòng giao dịch NHCSXH tổng hợp {code}",
            business_date=business_date,
            business_date_held=True,
        )
    # Closed months (and their month-end snapshots) belong to the book they closed.
    has_data = office.loans.exists() or office.households.exists() or office.closed_months.exists()
    if has_data and not replace:
        raise SeedRefused(
            f"Office {code} already has loans, households or closed months; pass --replace to "
            "delete them and seed again."
        )
    if has_data:
        _delete_office_data(cursor, office.pk)
    return office


def _delete_office_data(cursor, office_id: int) -> None:
    """Delete an office's book (the ledger's append-only trigger is off in replica mode), with
    its closed months, its ends of day and the month-end snapshots derived from its ledger. The
    new book starts at the business date: its history before it is the seeder's (an import's)."""
    statements = [
        # The feed's rows of the old book go with it: the core bank of a benchmark office.
        "DELETE FROM outbox_outboxentry WHERE office_id = %(o)s",
        "DELETE FROM loans_endofday WHERE office_id = %(o)s",
        "UPDATE borrowers_office SET first_business_date = business_date WHERE id = %(o)s",
        "DELETE FROM reports_monthendbalance WHERE snapshot_id IN "
        "(SELECT id FROM reports_monthendsnapshot WHERE office_id = %(o)s)",
        "DELETE FROM reports_monthendsnapshot WHERE office_id = %(o)s",
        "DELETE FROM loans_closedmonth WHERE office_id = %(o)s",
        # The benchmarks' sessions (bench_commune_day) and their printed sheets.
        "DELETE FROM commune_day_sheetprintrun WHERE session_id IN "
        "(SELECT id FROM commune_day_transactionsession WHERE office_id = %(o)s)",
        "DELETE FROM commune_day_sheetposting WHERE session_id IN "
        "(SELECT id FROM commune_day_transactionsession WHERE office_id = %(o)s)",
        "DELETE FROM commune_day_transactionsession_groups WHERE transactionsession_id IN "
        "(SELECT id FROM commune_day_transactionsession WHERE office_id = %(o)s)",
        "DELETE FROM commune_day_transactionsession WHERE office_id = %(o)s",
        "DELETE FROM loans_loantransaction WHERE loan_id IN "
        "(SELECT id FROM loans_loan WHERE office_id = %(o)s)",
        "DELETE FROM loans_instalment WHERE loan_id IN "
        "(SELECT id FROM loans_loan WHERE office_id = %(o)s)",
        "DELETE FROM loans_loan WHERE office_id = %(o)s",
        "DELETE FROM borrowers_groupmembership WHERE household_id IN "
        "(SELECT id FROM borrowers_household WHERE office_id = %(o)s)",
        "DELETE FROM borrowers_householdcategory WHERE household_id IN "
        "(SELECT id FROM borrowers_household WHERE office_id = %(o)s)",
        "DELETE FROM borrowers_previousidentity WHERE household_id IN "
        "(SELECT id FROM borrowers_household WHERE office_id = %(o)s)",
        "DELETE FROM borrowers_household WHERE office_id = %(o)s",
        "DELETE FROM borrowers_savingsgroup WHERE office_id = %(o)s",
        "DELETE FROM borrowers_chapter WHERE office_id = %(o)s",
        "DELETE FROM borrowers_village WHERE office_id = %(o)s",
        "DELETE FROM borrowers_commune WHERE office_id = %(o)s",
    ]
    for sql in statements:
        cursor.execute(sql, {"o": office_id})


# --- organisation ----------------------------------------------------------------------------


@dataclass
class Org:
    villages: list[int]  # village ids
    groups: list[tuple[int, int]]  # (group id, village id)
    counts: dict[str, int]


def _seed_organisation(cursor, rng, office, households) -> Org:
    n_communes = max(2, round(households / 1000))
    villages_per_commune = 8
    n_groups = max(2, round(households / 40))
    names = [f"{a} {b}" for a in SYLLABLES for b in SYLLABLES if a != b]
    rng.shuffle(names)
    commune_id = reserve_ids(cursor, "borrowers_commune", n_communes)
    communes = [
        (
            commune_id + i, f"{office.code}-X{i + 1:04d}", f"Xã {names[i % len(names)]}",
            "commune", 1 + i % 28, "1900-01-01", None, None, office.pk,
        )
        for i in range(n_communes)
    ]  # fmt: skip
    copy_rows(
        cursor, "borrowers_commune",
        ["id", "code", "name", "kind", "transaction_day", "valid_from", "valid_to",
         "successor_id", "office_id"],
        communes,
    )  # fmt: skip
    n_villages = n_communes * villages_per_commune
    village_id = reserve_ids(cursor, "borrowers_village", n_villages)
    village_rows = []
    for c in range(n_communes):
        for v in range(villages_per_commune):
            i = c * villages_per_commune + v
            village_rows.append(
                (village_id + i, f"{office.code}-T{i + 1:05d}", f"Thôn {v + 1}",
                 commune_id + c, office.pk)
            )  # fmt: skip
    copy_rows(
        cursor, "borrowers_village", ["id", "code", "name", "commune_id", "office_id"], village_rows
    )
    orgs = dict(Organisation.objects.values_list("code", "id"))
    org_codes = [code for code, _ in ORG_SHARES]
    org_cum = _cum([w for _, w in ORG_SHARES])
    chapter_id = reserve_ids(cursor, "borrowers_chapter", n_communes * len(org_codes))
    chapters = {}
    chapter_rows = []
    for c in range(n_communes):
        for j, org_code in enumerate(org_codes):
            cid = chapter_id + c * len(org_codes) + j
            chapters[(c, org_code)] = cid
            chapter_rows.append((cid, commune_id + c, office.pk, orgs[org_code]))
    copy_rows(
        cursor, "borrowers_chapter", ["id", "commune_id", "office_id", "organisation_id"],
        chapter_rows,
    )  # fmt: skip
    group_id = reserve_ids(cursor, "borrowers_savingsgroup", n_groups)
    groups, group_rows = [], []
    for g in range(n_groups):
        v = g % n_villages
        c = v // villages_per_commune
        org_code = org_codes[bisect.bisect(org_cum, rng.random() * org_cum[-1])]
        gid = group_id + g
        groups.append((gid, village_id + v))
        head = _person_name(rng, "F" if org_code == "women" else rng.choice("MF"))
        group_rows.append(
            (gid, f"{office.code}-G{g + 1:06d}", f"Tổ TK&VV {org_code} thôn {v % 8 + 1} số {g + 1}",
             head, "2010-01-01", None, chapters[(c, org_code)], office.pk, village_id + v)
        )  # fmt: skip
    copy_rows(
        cursor, "borrowers_savingsgroup",
        ["id", "code", "name", "head_name", "established_on", "dissolved_on", "chapter_id",
         "office_id", "village_id"],
        group_rows,
    )  # fmt: skip
    return Org(
        villages=[r[0] for r in village_rows],
        groups=groups,
        counts={
            "communes": n_communes,
            "villages": n_villages,
            "chapters": len(chapter_rows),
            "groups": n_groups,
        },
    )


def _cum(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


_FAMILY = list(FAMILY_NAMES)
_FAMILY_CUM = _cum(list(FAMILY_NAMES.values()))


def _person_name(rng: random.Random, sex: str) -> str:
    family = _FAMILY[bisect.bisect(_FAMILY_CUM, rng.random() * _FAMILY_CUM[-1])]
    if sex == "F":
        return f"{family} {rng.choice(MIDDLE_F)} {rng.choice(GIVEN_F)}"
    return f"{family} {rng.choice(MIDDLE_M)} {rng.choice(GIVEN_M)}"


# --- households ------------------------------------------------------------------------------


@dataclass
class People:
    first_id: int
    category: bytearray  # index into CATEGORIES
    group: array  # group id, 0 = direct borrower
    counts: dict[str, int]


def _province_serials(cursor, province: str) -> dict[str, int]:
    """The highest serial already used under each 6-digit prefix of this province, so synthetic
    IDs never collide with existing ones (IDs are unique among active households of all
    offices)."""
    cursor.execute(
        "SELECT substr(citizen_id, 1, 6), max(substr(citizen_id, 7, 6)::int) "
        "FROM borrowers_household WHERE citizen_id LIKE %s AND length(citizen_id) = 12 "
        "GROUP BY 1",
        [province + "%"],
    )
    return dict(cursor.fetchall())


def _seed_households(cursor, rng, office, org: Org, n: int, business_date: dt.date) -> People:
    # Nghệ An (040): a synthetic province office, away from the Hanoi (001) demo data.
    province = "040"
    serials = _province_serials(cursor, province)
    first_id = reserve_ids(cursor, "borrowers_household", n)
    cat_cum = _cum([w for _, w in CATEGORIES])
    category = bytearray(n)
    group = array("q", bytes(8 * n))
    households, categories = [], []
    cat_id = reserve_ids(cursor, "borrowers_householdcategory", 2 * n)
    groups = org.groups
    villages = org.villages
    direct_share = 0.03
    created = f"{business_date.isoformat()} 08:00:00+07"
    year_now = business_date.year
    base_ord = dt.date(1950, 1, 1).toordinal()
    span = dt.date(2001, 12, 31).toordinal() - base_ord
    member_households, member_groups = array("q"), array("q")
    household_columns = [
        "id", "full_name", "citizen_id", "date_of_birth", "sex", "phone", "status", "created_at",
        "office_id", "group_id", "village_id",
    ]  # fmt: skip
    category_columns = ["id", "year", "category", "recorded_at", "household_id", "recorded_by_id"]
    for i in range(n):
        hid = first_id + i
        sex = "F" if rng.random() < 0.62 else "M"
        dob = dt.date.fromordinal(base_ord + rng.randrange(span))
        prefix = f"{province}{century_sex_digit(dob, sex)}{dob.year % 100:02d}"
        serial = serials.get(prefix, 0) + 1
        if serial > 999_999:
            raise ValueError(f"citizen ID serials exhausted under {prefix}")
        serials[prefix] = serial
        r = rng.random()
        phone = "" if r < 0.12 else f"0{rng.choice('389')}{rng.randrange(10**8):08d}"
        if rng.random() < direct_share:
            gid, vid = None, villages[rng.randrange(len(villages))]
        else:
            gid, vid = groups[rng.randrange(len(groups))]
            group[i] = gid
            member_households.append(hid)
            member_groups.append(gid)
        c = bisect.bisect(cat_cum, rng.random() * cat_cum[-1])
        category[i] = c
        households.append(
            (hid, _person_name(rng, sex), f"{prefix}{serial:06d}", dob.isoformat(), sex, phone,
             "active", created, office.pk, gid, vid)
        )  # fmt: skip
        cat_code = CATEGORIES[c][0]
        categories.append((cat_id + 2 * i, 2015, cat_code, created, hid, None))
        categories.append((cat_id + 2 * i + 1, year_now, cat_code, created, hid, None))
        if len(households) == 50_000 or i == n - 1:  # bounded memory at any size
            copy_rows(cursor, "borrowers_household", household_columns, households)
            copy_rows(cursor, "borrowers_householdcategory", category_columns, categories)
            households.clear()
            categories.clear()
    n_members = len(member_households)
    if n_members:
        mem_first = reserve_ids(cursor, "borrowers_groupmembership", n_members)
        memberships = (
            (mem_first + j, "2015-01-01", None, hid, gid)
            for j, (hid, gid) in enumerate(zip(member_households, member_groups, strict=True))
        )
        copy_rows(
            cursor, "borrowers_groupmembership",
            ["id", "joined_on", "left_on", "household_id", "group_id"],
            memberships,
        )  # fmt: skip
    return People(
        first_id=first_id,
        category=category,
        group=group,
        counts={"households": n, "household_categories": 2 * n, "group_memberships": n_members},
    )


# --- loans and the ledger -----------------------------------------------------------------------

LOAN_COLUMNS = [
    "id", "number", "status", "approved_amount", "term_months", "preferential", "applied_on",
    "approved_on", "purpose", "workers_employed", "works_built", "created_at", "outstanding",
    "overdue", "frozen", "disbursed", "first_disbursed_on", "approved_by_id", "created_by_id",
    "group_id", "household_id", "office_id", "transferred_from_id", "programme_id",
]  # fmt: skip
INSTALMENT_COLUMNS = ["id", "seq", "due_date", "principal", "extended_to", "loan_id"]
ENTRY_COLUMNS = [
    "id", "kind", "counted_kind", "value_date", "amount", "d_outstanding", "d_overdue",
    "d_frozen", "new_due_date", "note", "reference", "idempotency_key", "posted_at",
    "counterparty_office_id", "instalment_id", "loan_id", "office_id", "posted_by_id",
    "reverses_id",
]  # fmt: skip


def _split(total: int, parts: int) -> list[int]:
    """Integers summing exactly to total, as even as possible."""
    return [total * (i + 1) // parts - total * i // parts for i in range(parts)]


def _quotas(rng: random.Random, n: int, total: int) -> list[int]:
    """n positive integers summing to total, varied (a few loans have long histories)."""
    quotas = [1] * n
    extra = total - n
    if extra <= 0 or n == 0:
        return quotas
    weights = [(0.15 + rng.random() * 1.7) * (3 if rng.random() < 0.08 else 1) for _ in range(n)]
    cum = _cum(weights)
    top = cum[-1]
    for _ in range(extra):
        quotas[bisect.bisect(cum, rng.random() * top)] += 1
    return quotas


def _seed_loans(cursor, rng, office, people: People, n_loans, n_entries, bd, chunk, say):
    counts = {"loans": 0, "instalments": 0, "ledger_entries": 0}
    if n_loans == 0:
        return counts
    programmes = dict(Programme.objects.values_list("code", "id"))
    terms = ProgrammeTerms()
    terms.refuse_longer_terms(TERMS, EARLIEST, bd)
    mixes = {}
    for cat, mix in PROGRAMME_MIX.items():
        mixes[cat] = ([c for c, _ in mix], _cum([w for _, w in mix]))
    loan_first = reserve_ids(cursor, "loans_loan", n_loans)
    entry_first = reserve_ids(cursor, "loans_loantransaction", n_entries) if n_entries else 0
    n_households = len(people.category)
    n_chunks = (n_loans + chunk - 1) // chunk
    loan_sizes = _split(n_loans, n_chunks)
    # Disbursed loans get at least one entry; about 1 % are still only applied or approved.
    undisbursed_share = 0.01
    sim = LoanSimulator(rng, office, bd, programmes, terms)
    next_loan = loan_first
    next_entry = entry_first
    entries_left = n_entries
    loans_left = n_loans
    year_seq: dict[int, int] = {}
    for ci, size in enumerate(loan_sizes):
        t0 = time.monotonic()
        undisbursed = [rng.random() < undisbursed_share for _ in range(size)]
        disbursed_n = size - sum(undisbursed)
        # This chunk's share of the remaining entries, exact over all chunks.
        share = entries_left * size // loans_left if ci < n_chunks - 1 else entries_left
        if disbursed_n == 0:
            share = 0
        share = max(share, disbursed_n)
        quotas = iter(_quotas(rng, disbursed_n, share))
        loan_rows, inst_rows, entry_buf = [], [], io.StringIO()
        inst_first = None
        pending_inst: list[tuple] = []
        for j in range(size):
            h = rng.randrange(n_households)
            cat = CATEGORIES[people.category[h]][0]
            codes, cum = mixes[cat]
            code = codes[bisect.bisect(cum, rng.random() * cum[-1])]
            loan_id = next_loan
            next_loan += 1
            k = 0 if undisbursed[j] else next(quotas)
            plan = sim.simulate(loan_id, code, k, next_entry, entry_buf)
            next_entry += k
            year = plan.applied_on.year
            seq = year_seq[year] = year_seq.get(year, 0) + 1
            gid = people.group[h] or None
            loan_rows.append(
                (loan_id, f"{office.code}-{year}-{seq:06d}", plan.status, plan.approved_amount,
                 plan.term, False, plan.applied_on.isoformat(),
                 plan.approved_on.isoformat() if plan.approved_on else None, plan.purpose,
                 plan.workers, plan.works, f"{plan.applied_on.isoformat()} 09:00:00+07",
                 plan.outstanding, plan.overdue, plan.frozen, plan.disbursed,
                 plan.first_disbursed_on.isoformat() if plan.first_disbursed_on else None,
                 None, None, gid, people.first_id + h, office.pk, None, programmes[code])
            )  # fmt: skip
            pending_inst.extend(plan.instalments)
        if pending_inst:
            inst_first = reserve_ids(cursor, "loans_instalment", len(pending_inst))
            # Entries that point at an instalment (transfers to overdue) use its position.
            for off, row in enumerate(pending_inst):
                inst_rows.append((inst_first + off, *row))
        copy_rows(cursor, "loans_loan", LOAN_COLUMNS, loan_rows)
        copy_rows(cursor, "loans_instalment", INSTALMENT_COLUMNS, inst_rows)
        text = entry_buf.getvalue()
        if inst_first is not None:
            text = _resolve_instalments(text, sim, inst_first)
        copy_text(cursor, "loans_loantransaction", ENTRY_COLUMNS, text)
        sim.reset_chunk()
        counts["loans"] += size
        counts["instalments"] += len(inst_rows)
        counts["ledger_entries"] += share if disbursed_n else 0
        entries_left -= share if disbursed_n else 0
        loans_left -= size
        if n_chunks > 1:
            say(
                f"  chunk {ci + 1}/{n_chunks}: {counts['loans']:,} loans, "
                f"{counts['ledger_entries']:,} entries ({time.monotonic() - t0:.1f} s)"
            )
    if next_entry - entry_first != counts["ledger_entries"]:
        raise AssertionError("entry count drifted")
    if counts["ledger_entries"] != n_entries:
        raise AssertionError(f"asked for {n_entries} entries, generated {counts['ledger_entries']}")
    return counts


def _resolve_instalments(text: str, sim: LoanSimulator, inst_first: int) -> str:
    """Entries refer to instalments by placeholder @n (position in this chunk)."""
    if "@" not in text:
        return text
    out = []
    for line in text.splitlines(keepends=True):
        if "@" in line:
            cols = line.split("\t")
            pos = ENTRY_COLUMNS.index("instalment_id")
            cols[pos] = str(inst_first + int(cols[pos][1:]))
            line = "\t".join(cols)
        out.append(line)
    return "".join(out)


@dataclass
class LoanPlan:
    status: str
    approved_amount: int
    term: int
    applied_on: dt.date
    approved_on: dt.date | None
    first_disbursed_on: dt.date | None
    purpose: str
    workers: int
    works: int
    outstanding: int = 0
    overdue: int = 0
    frozen: int = 0
    disbursed: int = 0
    instalments: list[tuple] = field(default_factory=list)


PURPOSES = {
    "HN": "Chăn nuôi lợn", "HCN": "Trồng rau màu", "HMTN": "Mua bò giống",
    "GQVL": "Mở xưởng mộc", "HSSV": "Học phí đại học", "NSVS": "Xây công trình nước sạch",
    "XKLD": "Chi phí đi lao động Nhật Bản", "NOXH": "Mua nhà ở xã hội",
}  # fmt: skip

# Event kinds in the plan, with their order on one day.
DISB, INT, REP, REST, TTO, FRZ, WO, REV_INT, REV_REP = range(9)


class LoanSimulator:
    """Builds one loan's history with exactly k ledger entries and writes them as COPY text."""

    def __init__(self, rng, office, bd, programmes, terms: ProgrammeTerms) -> None:
        self.rng = rng
        self.office_id = office.pk
        self.code = office.code
        self.bd = bd
        self.bd_ord = bd.toordinal()
        self.terms = terms
        self.steps = terms.instalment_months
        self.dates = Dates()
        self.inst_pos = 0  # instalments generated in this chunk

    def reset_chunk(self) -> None:
        self.inst_pos = 0

    # amounts and terms -------------------------------------------------------------------------

    def _terms(self, code: str) -> tuple[int, int, int]:
        rng = self.rng
        workers = works = 0
        if code == "NSVS":
            works = 1 if rng.random() < 0.8 else 2
            amount = rng.randrange(5, 10 * works + 1) * M
        elif code == "GQVL":
            workers = rng.choice([1, 1, 1, 2, 2, 3])
            amount = rng.randrange(30, 100 * workers + 1) * M
        elif code == "HSSV":
            amount = rng.randrange(10, 101) * M
        elif code == "NOXH":
            amount = rng.randrange(200, 701, 10) * M
        else:
            amount = rng.randrange(20, 101) * M
        return amount, workers, works

    # the history -------------------------------------------------------------------------------

    def simulate(self, loan_id: int, code: str, k: int, first_entry: int, out) -> LoanPlan:
        rng = self.rng
        amount, workers, works = self._terms(code)
        term = rng.choice(TERMS[code])
        step = max(1, min(self.steps[code], term))
        purpose = PURPOSES[code]
        if k == 0:
            applied = self.bd_ord - rng.randrange(1, 60)
            approved = applied + rng.randrange(3, 15) if rng.random() < 0.6 else None
            if approved is not None and approved > self.bd_ord:
                approved = None
            return LoanPlan(
                status="approved" if approved else "applied", approved_amount=amount, term=term,
                applied_on=dt.date.fromordinal(applied),
                approved_on=dt.date.fromordinal(approved) if approved else None,
                first_disbursed_on=None, purpose=purpose, workers=workers, works=works,
            )  # fmt: skip
        # Fate: what happened to the loan by the business date.
        r = rng.random()
        if k >= 2 and r < 0.22:
            fate = "settled"
        elif k >= 2 and r < 0.225:
            fate = "written_off"
        elif k >= 2 and r < 0.245:
            fate = "overdue"
        elif k >= 3 and r < 0.25:
            fate = "frozen"
        else:
            fate = "active"
        reversal = None
        mandatory = 1 + {"settled": 1, "written_off": 1, "overdue": 1, "frozen": 2}.get(fate, 0)
        if k - mandatory >= 3 and rng.random() < 0.02:
            reversal = REV_REP if rng.random() < 0.3 else REV_INT
            mandatory += 2
        tranche2 = k - mandatory >= 4 and rng.random() < 0.05
        if tranche2:
            mandatory += 1
        free = k - mandatory  # principal repayments + interest payments
        cadence = 1 if rng.random() < 0.7 else 3
        per_month = 1 / cadence + 1 / step
        months = int(free / per_month)
        if fate in ("overdue", "frozen"):
            months = max(months, step + 1)
        months = min(months, term - 1)
        max_age = (self.bd.year - EARLIEST.year) * 12 + self.bd.month - EARLIEST.month - 2
        months = max(0, min(months, max_age))
        if fate in ("overdue", "frozen") and months <= step:
            fate, free = "active", free + (2 if fate == "frozen" else 1)
        # Place the loan in time: active loans run up to the business date; settled and written
        # off ones end on a date between the first possible month and the business date.
        first_part = amount // 2 // M * M or amount // 2
        while True:
            if fate in ("settled", "written_off"):
                lo = add_months(EARLIEST, months).toordinal() + 20
                hi = self.bd_ord - 1
                if lo > hi:
                    months -= 1
                    continue
                end = rng.randint(lo, hi)
            else:
                end = self.bd_ord
            if months == 0:
                d0 = end - rng.randrange(0, 28)
            else:
                d0 = add_months(dt.date.fromordinal(end), -months).toordinal()
                d0 -= rng.randrange(0, 25)
            d0 = max(d0, EARLIEST.toordinal())
            t2 = d0 + rng.randrange(15, 45)
            first_date = dt.date.fromordinal(d0)
            count = max(1, term // step)
            base = amount // count
            dues = [
                (seq, add_months(first_date, term if seq == count else seq * step).toordinal(),
                 base if seq < count else amount - base * (count - 1))
                for seq in range(1, count + 1)
            ]  # fmt: skip
            due_before = [d for d in dues if d[1] < end]
            if len(due_before) >= count:  # the loan must not have run to maturity
                months -= 1
                continue
            if fate in ("overdue", "frozen") and not due_before:
                free += 1 if fate == "overdue" else 2
                fate = "active"
                continue
            n_rep = len(due_before) - (1 if fate in ("overdue", "frozen") else 0)
            if n_rep > free:
                months -= 1
                continue
            if tranche2 and (t2 >= end or t2 >= dues[0][1]):
                tranche2 = False
                free += 1
                continue
            break
        n_int = free - n_rep
        events: list[tuple] = []
        if tranche2:
            events.append((d0, DISB, first_part))
            events.append((t2, DISB, amount - first_part))
        else:
            events.append((d0, DISB, amount))
        repaid = due_before[:n_rep]
        for seq, due, principal in repaid:
            events.append((due, REP, principal, seq))
        if fate in ("overdue", "frozen"):
            seq, due, principal = due_before[-1]
            events.append((due + 1, TTO, principal, seq))
            if fate == "frozen":
                events.append((min(due + rng.randrange(20, 90), self.bd_ord), FRZ))
        if fate == "settled":
            events.append((end, REST))
        elif fate == "written_off":
            events.append((end, WO))
        span = max(1, end - d0)
        for i in range(n_int):
            events.append((d0 + 1 + (i * span) // max(1, n_int) if span > 1 else end, INT))
        if reversal is not None:
            if reversal == REV_REP and repaid:
                seq, due, principal = repaid[rng.randrange(len(repaid))]
                events.append((due, REV_REP, principal))
            else:
                first = min(d0 + 1, end)
                events.append((rng.randint(first, max(first, end - 1)), REV_INT))
        events.sort(key=lambda e: (e[0], e[1]))
        applied_on = max(EARLIEST.toordinal() - 20, d0 - rng.randrange(10, 40))
        plan = LoanPlan(
            status="active", approved_amount=amount, term=term,
            applied_on=dt.date.fromordinal(applied_on),
            approved_on=None, first_disbursed_on=first_date, purpose=purpose, workers=workers,
            works=works,
        )  # fmt: skip
        plan.approved_on = dt.date.fromordinal(
            rng.randint(plan.applied_on.toordinal(), min(d0, plan.applied_on.toordinal() + 10))
        )
        # Instalments: positions in this chunk; the transfer to overdue refers to its own.
        inst_pos = {}
        for seq, due, principal in dues:
            inst_pos[seq] = self.inst_pos
            self.inst_pos += 1
            plan.instalments.append((seq, self.dates.iso(due), principal, None, loan_id))
        self._post_all(plan, events, loan_id, first_entry, k, code, inst_pos, out)
        # The entry that brought a finished loan to nought: its write-off, else its last repayment.
        last = (
            TransactionKind.WRITE_OFF
            if fate == "written_off"
            else TransactionKind.PRINCIPAL_REPAYMENT
        )
        plan.status = ledger.settle_status(last, plan.outstanding, plan.disbursed, False)
        return plan

    def _rates(self, code: str, approved_on: dt.date) -> tuple[int, int]:
        """The rule in force at approval: its monthly rate in millionths (0.55 %/month =
        5,500 ppm) and its overdue multiplier in per cent (1.30 = 130); both exact, as the rule
        stores them with four and two decimals."""
        terms = self.terms.on(code, approved_on)
        return int(terms.monthly_rate * 10_000), int(terms.overdue_multiplier * 100)

    def _post_all(self, plan, events, loan_id, first_entry, k, code, inst_pos, out) -> None:
        out_ = ov = fr = 0
        disbursed = 0
        last_interest = events[0][0]
        rate, overdue_pct = self._rates(code, plan.approved_on)
        entry_id = first_entry
        iso = self.dates.iso
        prefix = f"syn:{self.code}:"
        tail = f"\t{loan_id}\t{self.office_id}\t\\N\t"
        written = 0

        def emit(kind, counted, day, amount, d_o, d_v, d_f, note="", instalment=None, rev=None):
            nonlocal entry_id, written
            if amount <= 0:
                raise AssertionError(f"loan {loan_id}: non-positive {kind} amount {amount}")
            out.write(
                f"{entry_id}\t{kind}\t{counted}\t{iso(day)}\t{amount}\t{d_o}\t{d_v}\t{d_f}\t\\N\t"
                f"{note}\t\t{prefix}{entry_id}\t{iso(day)} 16:00:00+07\t\\N\t"
                f"{'@' + str(instalment) if instalment is not None else chr(92) + 'N'}"
                f"{tail}{rev if rev is not None else chr(92) + 'N'}\n"
            )
            entry_id += 1
            written += 1
            return entry_id - 1

        # Effects from the rulebook (loans.ledger), applied here as _post applies them.
        for event in events:
            day, what = event[0], event[1]
            if what == DISB:
                a = event[2]
                disbursed += disbursed_change("disbursement", "disbursement", a)
                d_o, d_v, d_f = disbursement_effect(a)
                emit("disbursement", "disbursement", day, a, d_o, d_v, d_f)
                out_ += d_o
            elif what == INT:
                days = max(1, day - last_interest)
                in_term = ledger.in_term(out_, ov, fr)
                a = (in_term * rate * days + ov * rate * overdue_pct // 100 * days) // (30 * M)
                a = max(a // 100 * 100, 1000)
                last_interest = day
                emit("interest_payment", "interest_payment", day, a, 0, 0, 0)
            elif what in (REP, REST, REV_REP):
                a = event[2] if what != REST else repayable(out_, fr)
                a = min(a, repayable(out_, fr))
                if what == REST and fr:
                    raise AssertionError("a settled synthetic loan has no frozen principal")
                if a <= 0:
                    raise AssertionError(f"loan {loan_id}: nothing to repay on {day}")
                d_o, d_v, d_f = repayment_effect(a, out_, ov, fr)
                rid = emit("principal_repayment", "principal_repayment", day, a, d_o, d_v, d_f)
                out_ += d_o
                ov += d_v
                if what == REV_REP:
                    d_o, d_v, d_f = reversal_effect(d_o, d_v, d_f)
                    emit("reversal", "principal_repayment", day, a, d_o, d_v, d_f,
                         note="Nhập trùng", rev=rid)  # fmt: skip
                    out_ += d_o
                    ov += d_v
            elif what == TTO:
                a = event[2]
                d_o, d_v, d_f = transfer_to_overdue_effect(a)
                emit("transfer_to_overdue", "transfer_to_overdue", day, a, d_o, d_v, d_f,
                     instalment=inst_pos[event[3]])  # fmt: skip
                ov += d_v
            elif what == FRZ:
                a = ov
                d_o, d_v, d_f = freeze_effect(a, out_, ov, fr)
                emit("freeze", "freeze", day, a, d_o, d_v, d_f, note="Hồ sơ khoanh nợ: thiên tai")
                ov += d_v
                fr += d_f
            elif what == WO:
                a = out_
                d_o, d_v, d_f = write_off_effect(a, out_, ov, fr)
                emit("write_off", "write_off", day, a, d_o, d_v, d_f,
                     note="Xóa nợ: " + self.rng.choice(WRITE_OFF_REASONS))  # fmt: skip
                out_, ov, fr = out_ + d_o, ov + d_v, fr + d_f
            elif what == REV_INT:
                a = max(1000, out_ * rate // (30 * M) * 30 // 100 * 100)
                rid = emit("interest_payment", "interest_payment", day, a, 0, 0, 0)
                emit("reversal", "interest_payment", day, a, 0, 0, 0, note="Sai số tiền", rev=rid)
            if not consistent(out_, ov, fr):
                raise AssertionError(f"loan {loan_id}: balances inconsistent on {day}")
        if written != k:
            raise AssertionError(f"loan {loan_id}: {written} entries, quota {k}")
        if disbursed > plan.approved_amount:
            raise AssertionError(f"loan {loan_id}: disbursed above the approved amount")
        plan.outstanding, plan.overdue, plan.frozen, plan.disbursed = out_, ov, fr, disbursed


# --- verification ----------------------------------------------------------------------------

ORPHAN_CHECKS = {
    "ledger entries without their loan": """
        SELECT count(*) FROM loans_loantransaction t
         WHERE t.office_id = %(o)s
           AND NOT EXISTS (SELECT 1 FROM loans_loan l WHERE l.id = t.loan_id)
    """,
    "reversals without their entry": """
        SELECT count(*) FROM loans_loantransaction t
         WHERE t.office_id = %(o)s AND t.reverses_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM loans_loantransaction e
                            WHERE e.id = t.reverses_id AND e.loan_id = t.loan_id)
    """,
    "entries pointing at another loan's instalment": """
        SELECT count(*) FROM loans_loantransaction t
         WHERE t.office_id = %(o)s AND t.instalment_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM loans_instalment i
                            WHERE i.id = t.instalment_id AND i.loan_id = t.loan_id)
    """,
    "loans without their household or group": """
        SELECT count(*) FROM loans_loan l
         WHERE l.office_id = %(o)s
           AND (NOT EXISTS (SELECT 1 FROM borrowers_household h
                             WHERE h.id = l.household_id AND h.office_id = l.office_id)
                OR (l.group_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM borrowers_savingsgroup g WHERE g.id = l.group_id)))
    """,
    "households without their village": """
        SELECT count(*) FROM borrowers_household h
         WHERE h.office_id = %(o)s
           AND NOT EXISTS (SELECT 1 FROM borrowers_village v WHERE v.id = h.village_id)
    """,
}


def _verify(cursor, office: Office) -> list[str]:
    problems = []
    mismatches = ledger_mismatches(office)
    if mismatches:
        problems.append(f"{len(mismatches)} loans differ from their ledger, e.g. {mismatches[:3]}")
    for label, sql in ORPHAN_CHECKS.items():
        cursor.execute(sql, {"o": office.pk})
        (n,) = cursor.fetchone()
        if n:
            problems.append(f"{n} {label}")
    return problems
