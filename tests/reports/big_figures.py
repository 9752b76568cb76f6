"""A province-sized `portfolio_report --json` object, made up without a database: the shape of
the `BIG` synthetic office of docs/benchmarks.md (8 programmes, 500 communes, 5 organisations,
12,501 groups: 12,500 savings and loan groups and the direct loans).

The figures are consistent the way the ledger's are: every row's roll-forward holds
(closing = opening + disbursed − collected − written off − transferred out + transferred in), and
the rows of every breakdown add up to the totals on every key (the customers too, which the real
figures do not promise: here a household is in one group only). Deterministic for a seed.
"""

import random

from reports.selectors import FIGURE_KEYS

M = 1_000_000
PROGRAMMES = (
    ("HN", "Cho vay hộ nghèo"),
    ("HCN", "Cho vay hộ cận nghèo"),
    ("HMTN", "Cho vay hộ mới thoát nghèo"),
    ("GQVL", "Cho vay giải quyết việc làm"),
    ("HSSV", "Cho vay học sinh sinh viên"),
    ("NSVS", "Cho vay nước sạch và VSMT nông thôn"),
    ("XKLD", "Cho vay xuất khẩu lao động"),
    ("NOXH", "Cho vay nhà ở xã hội"),
)
ORGANISATIONS = (
    ("women", "Hội Liên hiệp Phụ nữ"),
    ("farmers", "Hội Nông dân"),
    ("veterans", "Hội Cựu chiến binh"),
    ("youth", "Đoàn Thanh niên"),
)
DIRECT = ("direct", "Cho vay trực tiếp")
SYLLABLES = [
    "An",
    "Bình",
    "Cẩm",
    "Đông",
    "Giang",
    "Hà",
    "Hòa",
    "Hưng",
    "Khánh",
    "Lâm",
    "Long",
    "Minh",
    "Nam",
    "Ngọc",
    "Phú",
    "Phúc",
    "Quang",
    "Sơn",
    "Tân",
    "Thạch",
    "Thanh",
    "Thượng",
    "Tiến",
    "Trung",
    "Vân",
    "Vĩnh",
    "Xuân",
    "Yên",
]


def _rng_name(rng: random.Random) -> str:
    return " ".join(rng.sample(SYLLABLES, 2))


def _group_row(rng: random.Random, code: str, name: str, *, risky: bool) -> dict:
    """One group's figures, whole VND, with its roll-forward holding."""
    opening = rng.randint(800, 5_200) * M + rng.randrange(0, M, 100_000)
    disbursed = rng.randint(0, 1_400) * M
    written_off = rng.choice((0,) * 30 + (rng.randint(1, 40) * M,))
    transferred_out = rng.randint(1, 200) * M if rng.random() < 0.02 else 0
    collected = rng.randint(0, min(opening - written_off - transferred_out, 1_300 * M) // M) * M
    transferred_in = rng.randint(1, 200) * M if rng.random() < 0.02 else 0
    closing = opening + disbursed - collected - written_off - transferred_out + transferred_in
    overdue = frozen = 0
    if risky:
        overdue = rng.randint(0, max(1, closing // 20 // M)) * M + rng.randrange(0, M, 100_000)
        if rng.random() < 0.4:
            frozen = rng.randint(1, max(1, closing // 25 // M)) * M
    loan_turns = rng.randint(0, 14)
    return {
        "code": code,
        "name": name,
        "opening": opening,
        "disbursed": disbursed,
        "collected": collected,
        "written_off": written_off,
        "interest_collected": rng.randint(20, 200) * M + rng.randrange(0, M),
        "transferred_out": transferred_out,
        "transferred_in": transferred_in,
        "closing": closing,
        "overdue": overdue,
        "frozen": frozen,
        "customers_with_balance": rng.randint(15, 60),
        "loan_turns": loan_turns,
        "workers_employed": rng.randint(0, loan_turns),
        "works_built": rng.randint(0, loan_turns),
        "interest_written_off": rng.choice((0, 0, 0, rng.randrange(0, M))),
    }


def _sum(code: str, name: str, rows: list[dict]) -> dict:
    return {"code": code, "name": name, **{k: sum(r[k] for r in rows) for k in FIGURE_KEYS}}


def _split(rng: random.Random, total: dict, parts: list[tuple[str, str]]) -> list[dict]:
    """Split a row into parts (by shares that differ a little key by key) that add up to it and
    whose roll-forward holds: closing is derived, the last part takes the remainders."""
    weights = [rng.uniform(0.3, 3.0) for _ in parts]
    rows = []
    left = dict(total)
    for index, (code, name) in enumerate(parts):
        row = {"code": code, "name": name}
        last = index == len(parts) - 1
        share = weights[index] / sum(weights[index:])
        for key in FIGURE_KEYS:
            if key == "closing":
                continue
            value = left[key] if last else int(left[key] * min(1.0, share * rng.uniform(0.9, 1.1)))
            row[key] = value
            left[key] -= value
        row["closing"] = (
            row["opening"]
            + row["disbursed"]
            - row["collected"]
            - row["written_off"]
            - row["transferred_out"]
            + row["transferred_in"]
        )
        rows.append({"code": code, "name": name, **{k: row[k] for k in FIGURE_KEYS}})
    return rows


def big_figures(
    *,
    communes: int = 500,
    groups_per_commune: int = 25,
    risky_share: float = 0.05,
    seed: int = 2021,
    start: str = "2021-01-01",
    as_of: str = "2021-06-15",
    office: str = "BIG",
) -> dict:
    """The report object: totals and by_programme / by_commune / by_organisation / by_group, in
    the order figures_for_period gives them (programmes and organisations in their order,
    communes by name, groups by code, the direct loans last)."""
    rng = random.Random(seed)
    commune_rows, organisation_groups, group_rows = [], {code: [] for code, _ in ORGANISATIONS}, []
    direct_members = []
    number = 0
    for c in range(1, communes + 1):
        commune_name = f"Xã {_rng_name(rng)} {c}"
        members = []
        for g in range(1, groups_per_commune + 1):
            number += 1
            organisation = ORGANISATIONS[(number - 1) % len(ORGANISATIONS)]
            row = _group_row(
                rng,
                f"G{number:05d}",
                f"Tổ TK&VV {organisation[1]} thôn {_rng_name(rng)} {g}, {commune_name}",
                risky=rng.random() < risky_share,
            )
            members.append(row)
            organisation_groups[organisation[0]].append(row)
        if c % 50 == 0:  # a few communes have direct loans too
            direct = _group_row(rng, "direct", DIRECT[1], risky=False)
            direct_members.append(direct)
            members.append(direct)
        commune_rows.append(_sum(f"C{c:03d}", commune_name, members))
        group_rows.extend(row for row in members if row["code"] != "direct")
    group_rows.append(_sum(*DIRECT, direct_members))
    organisation_rows = [
        _sum(code, name, organisation_groups[code]) for code, name in ORGANISATIONS
    ]
    organisation_rows.append(_sum(*DIRECT, direct_members))
    totals = {k: sum(row[k] for row in group_rows) for k in FIGURE_KEYS}
    programme_rows = _split(rng, totals, list(PROGRAMMES))
    commune_rows.sort(key=lambda row: row["name"])
    return {
        "office": office,
        "from": start,
        "as_of": as_of,
        "totals": totals,
        "by_programme": programme_rows,
        "by_commune": commune_rows,
        "by_organisation": organisation_rows,
        "by_group": group_rows,
    }
