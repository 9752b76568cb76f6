"""The SQL of the period figures and of the month-end snapshots (used by reports.selectors,
reports.delta and reports.snapshots). Parameters: office, start, as_of; snapshot (a
MonthEndSnapshot id or NULL) and since (its month end, or 0001-01-01 without one).

Two ways to the same figures:

- FIGURES_SQL (the reference): every loan's balances = its snapshot row + its entries dated after
  the snapshot (or all its entries without one), joined to its current breakdown keys and rolled
  up with GROUPING SETS. Cost: every loan of the office.
- the delta statements, when a snapshot exists (reports.delta): DELTA_SQL sums, for the loans
  that changed since (an entry dated after the snapshot, or a breakdown key changed,
  DimensionChange), what moved under their keys (a rekeyed loan: its whole figures under its
  keys now, minus its snapshot figures under the snapshot's keys); CUSTOMERS_SQL recounts the
  households where a loan gained or lost a balance or was rekeyed; combine_sql adds both to the
  snapshot's rolled-up totals (MonthEndTotal). Cost: the changed loans only, shared by loan id
  (DELTA_SQL) and household id (CUSTOMERS_SQL) over parallel sessions.

The figure columns are reports.figures' FIGURE_COLUMNS, in its order.
"""

from .figures import FIGURE_COLUMNS, FLOW_KINDS

# The report query reads a million rows once: compiling it (JIT) cost 5 s, and 4 MB of work
# memory made its aggregations spill to disk.
REPORT_SESSION_SQL = "SET LOCAL jit = off; SET LOCAL work_mem = '128MB'"

# The flow columns, each the sum of one entry kind (reports.figures.FLOW_KINDS; a reversal counts
# in its cancelled entry's).
FLOWS = ",\n".join(
    f"           (SUM(t.signed) FILTER (WHERE t.in_period AND t.counted_kind = '{kind}'))::bigint"
    f" AS {column}"
    for column, kind in FLOW_KINDS
)

# Each loan's entries dated in (since, as_of]: balance movements, flows in [start, as_of] (a
# reversal negatively, in the column of the entry it cancels, on its own value date), its first
# disbursement among them, and whether one of them reverses a disbursement. A reversal is dated
# on or after its entry (services, importer and seed all refuse otherwise), so a disbursement in
# the window reversed by as_of has its reversal in the window too: then first_disbursed() asks
# the ledger, otherwise the window's first disbursement stands.
MOVES = (
    """
moves AS (
    SELECT t.loan_id,
           COALESCE(SUM(t.d_outstanding) FILTER (WHERE NOT t.in_period), 0)::bigint
               AS d_opening,
           SUM(t.d_outstanding)::bigint AS d_closing,
           SUM(t.d_overdue)::bigint AS d_overdue,
           SUM(t.d_frozen)::bigint AS d_frozen,
"""
    + FLOWS
    + """,
           MIN(t.value_date) FILTER (WHERE t.kind = 'disbursement') AS first_disbursed,
           BOOL_OR(t.kind = 'reversal' AND t.counted_kind = 'disbursement')
               AS disbursement_reversed
      -- OFFSET 0: each entry's sign and period computed once, not once per column
      FROM (SELECT t.loan_id, t.kind, t.counted_kind, t.value_date, t.d_outstanding,
                   t.d_overdue, t.d_frozen, t.value_date >= %(start)s AS in_period,
                   CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END AS signed
              FROM loans_loantransaction t
             WHERE t.office_id = %(office)s AND t.value_date > %(since)s
               AND t.value_date <= %(as_of)s{share}
            OFFSET 0) t
     GROUP BY t.loan_id
)"""
)

# One share of the loans (a parallel worker's: reports.delta), by loan id.
SHARE = " AND {column} %% %(shares)s = %(share)s"


def moves(*, shared: bool = False) -> str:
    """MOVES, for every loan or (shared) for the loans of one share."""
    return MOVES.replace("{share}", SHARE.format(column="t.loan_id") if shared else "")


# A loan's first disbursement not reversed by as_of, asked of the ledger: for a loan one of whose
# window entries reverses a disbursement (the snapshot's first disbursement may be the one).
FIRST_DISBURSED_FROM_LEDGER = """(
    SELECT MIN(d.value_date)
      FROM loans_loantransaction d
     WHERE d.loan_id = {loan} AND d.office_id = %(office)s
       AND d.kind = 'disbursement' AND d.value_date <= %(as_of)s
       AND NOT EXISTS (
           SELECT 1 FROM loans_loantransaction x
            WHERE x.reverses_id = d.id AND x.value_date <= %(as_of)s))"""


def first_disbursed(*, moves: str, snapshot: str) -> str:
    """The loan's first disbursement not reversed by as_of, from its snapshot's and its moves'
    (aliases)."""
    return (
        f"CASE WHEN {moves}.disbursement_reversed THEN "
        + FIRST_DISBURSED_FROM_LEDGER.format(loan=f"{moves}.loan_id")
        + f" ELSE LEAST({snapshot}, {moves}.first_disbursed) END"
    )


# Every loan's balances at as_of and flows in [start, as_of]: its snapshot row plus its moves.
BALANCES = (
    """
snap AS (
    SELECT loan_id, outstanding, overdue, frozen, first_disbursed
      FROM reports_monthendbalance
     WHERE snapshot_id = %(snapshot)s
),"""
    + moves()
    + """,
balances AS (
    SELECT COALESCE(m.loan_id, s.loan_id) AS loan_id,
           COALESCE(s.outstanding, 0) + COALESCE(m.d_opening, 0) AS opening,
           COALESCE(s.outstanding, 0) + COALESCE(m.d_closing, 0) AS closing,
           COALESCE(s.overdue, 0) + COALESCE(m.d_overdue, 0) AS overdue,
           COALESCE(s.frozen, 0) + COALESCE(m.d_frozen, 0) AS frozen,
           m.disbursed, m.collected, m.written_off, m.interest_collected,
           m.interest_written_off, m.transferred_out, m.transferred_in,
           """
    + first_disbursed(moves="m", snapshot="s.first_disbursed")
    + """ AS first_disbursed
      FROM snap s
      FULL JOIN moves m ON m.loan_id = s.loan_id
)"""
)

# A loan's current breakdown keys: programme, group, the group's chapter's organisation, the
# commune of the group's village (of the household's village for a direct loan). {source} has
# loan_id; the result adds household_id, programme_id, group_id, organisation_id, the loan's
# outcome fields and commune_id.
KEYS = """
SELECT {columns},
       l.household_id,
       l.programme_id,
       l.group_id,
       ch.organisation_id,
       l.workers_employed,
       l.works_built,
       COALESCE(gv.commune_id, (
           SELECT v.commune_id
             FROM borrowers_household h
             JOIN borrowers_village v ON v.id = h.village_id
            WHERE h.id = l.household_id)) AS commune_id
  FROM {source}
  {loan}
  LEFT JOIN borrowers_savingsgroup g ON g.id = l.group_id
  LEFT JOIN borrowers_village gv ON gv.id = g.village_id
  LEFT JOIN borrowers_chapter ch ON ch.id = g.chapter_id"""


def keys(*, columns: str, source: str, alias: str) -> str:
    """KEYS for the loans of `source` (joined: every loan of the office)."""
    return KEYS.format(
        columns=columns, source=source, loan=f"JOIN loans_loan l ON l.id = {alias}.loan_id"
    )


GROUPING = "GROUPING SETS ((), (programme_id), (commune_id), (organisation_id), (group_id))"

# (dimension, key) of a GROUPING SETS row; key null for the total and for direct loans.
DIMENSION_KEY = """
CASE WHEN GROUPING(programme_id) = 0 THEN 'programme'
     WHEN GROUPING(commune_id) = 0 THEN 'commune'
     WHEN GROUPING(organisation_id) = 0 THEN 'organisation'
     WHEN GROUPING(group_id) = 0 THEN 'group'
     ELSE 'total' END AS dimension,
CASE WHEN GROUPING(programme_id) = 0 THEN programme_id
     WHEN GROUPING(commune_id) = 0 THEN commune_id
     WHEN GROUPING(organisation_id) = 0 THEN organisation_id
     WHEN GROUPING(group_id) = 0 THEN group_id END AS key"""


# The figures rows (dimension, key, loans and FIGURE_COLUMNS) named: code, name and sort orders.
# A row whose loans all left its key since the snapshot (loans = 0) is not a row.
NAMED = (
    """
SELECT f.dimension,
       CASE f.dimension WHEN 'programme' THEN p.code WHEN 'commune' THEN c.code
            WHEN 'organisation' THEN COALESCE(o.code, %(direct)s)
            WHEN 'group' THEN COALESCE(g.code, %(direct)s) END,
       CASE f.dimension WHEN 'programme' THEN p.name WHEN 'commune' THEN c.name
            WHEN 'organisation' THEN COALESCE(o.name, %(direct_name)s)
            WHEN 'group' THEN COALESCE(g.name, %(direct_name)s) END,
       """
    + ", ".join(f"f.{name}" for name in FIGURE_COLUMNS)
    + """,
       p.sort_order, COALESCE(o.id, 99)
  FROM figures f
  LEFT JOIN loans_programme p ON f.dimension = 'programme' AND p.id = f.key
  LEFT JOIN borrowers_commune c ON f.dimension = 'commune' AND c.id = f.key
  LEFT JOIN borrowers_organisation o ON f.dimension = 'organisation' AND o.id = f.key
  LEFT JOIN borrowers_savingsgroup g ON f.dimension = 'group' AND g.id = f.key
 WHERE f.loans > 0 OR f.dimension = 'total'
"""
)

FIGURES_SQL = (
    "WITH"
    + BALANCES
    + """,
per_loan AS ("""
    + keys(columns="b.*", source="balances b", alias="b")
    + """
),
figures AS (
    SELECT """
    + DIMENSION_KEY
    + """,
           COUNT(*) AS loans,
           COALESCE(SUM(p.opening), 0) AS opening, COALESCE(SUM(p.disbursed), 0) AS disbursed,
           COALESCE(SUM(p.collected), 0) AS collected,
           COALESCE(SUM(p.written_off), 0) AS written_off,
           COALESCE(SUM(p.interest_collected), 0) AS interest_collected,
           COALESCE(SUM(p.interest_written_off), 0) AS interest_written_off,
           COALESCE(SUM(p.transferred_out), 0) AS transferred_out,
           COALESCE(SUM(p.transferred_in), 0) AS transferred_in,
           COALESCE(SUM(p.closing), 0) AS closing, COALESCE(SUM(p.overdue), 0) AS overdue,
           COALESCE(SUM(p.frozen), 0) AS frozen,
           COUNT(DISTINCT p.household_id) FILTER (WHERE p.closing > 0) AS customers,
           COUNT(*) FILTER (WHERE p.first_disbursed >= %(start)s) AS loan_turns,
           COALESCE(SUM(p.workers_employed) FILTER (WHERE p.first_disbursed >= %(start)s), 0)
               AS workers_employed,
           COALESCE(SUM(p.works_built) FILTER (WHERE p.first_disbursed >= %(start)s), 0)
               AS works_built
      FROM per_loan p
     GROUP BY """
    + GROUPING
    + """
)"""
    + NAMED
)

# Loans whose breakdown keys changed after the snapshot read them: logged by a transaction its
# pg_snapshot could not see, or by its own transaction after it (params seen, seen_xmin,
# seen_txid, seen_change).
DIRTY = """
dirty AS (
    SELECT DISTINCT loan_id
      FROM reports_dimensionchange
     WHERE txid >= %(seen_xmin)s
       AND (NOT pg_visible_in_snapshot(txid::text::xid8, %(seen)s::pg_snapshot)
            OR (txid = %(seen_txid)s AND id > %(seen_change)s)){share}
)"""

# What the delta statements hand on (reports.delta), as one array per column: the changed loans
# of a share summed by key, the loans that may change a customer count, and the customer counts'
# difference per key.
DELTA_COLUMNS = (
    ("dimension", "text"),
    ("key", "bigint"),
    *((name, "bigint") for name in ("loans", *FIGURE_COLUMNS) if name != "customers"),
)
FLIP_COLUMNS = (
    ("loan_id", "bigint"),
    ("in_snapshot", "boolean"),
    ("s_household_id", "bigint"),
    ("rekeyed", "boolean"),
    ("household_id", "bigint"),
    ("programme_id", "bigint"),
    ("commune_id", "bigint"),
    ("organisation_id", "bigint"),
    ("group_id", "bigint"),
    ("has", "boolean"),
)
CUSTOMER_COLUMNS = (("dimension", "text"), ("key", "bigint"), ("customers", "bigint"))


def arrays(columns) -> str:
    """One array (as text) per column: array_in parses it back in one go, where a JSON field
    access would parse the whole element again."""
    return ", ".join(f"array_agg({name}::{kind})::text AS {name}" for name, kind in columns)


def unnest(columns, *, prefix: str) -> str:
    """The rows of the array parameters %(<prefix>_<column>)s (arrays())."""
    return (
        "unnest("
        + ", ".join(f"%({prefix}_{name})s::{kind}[]" for name, kind in columns)
        + ") AS "
        + prefix
        + "("
        + ", ".join(name for name, _kind in columns)
        + ")"
    )


DELTA_SQL = (
    "WITH"
    + moves(shared=True)
    + ","
    + DIRTY.replace("{share}", SHARE.format(column="loan_id"))
    + """,
-- the loans that changed since the snapshot: entries dated after it (in loan order, each with
-- its snapshot row looked up by the primary key), or keys changed with no entry since
changed AS (
    SELECT m.loan_id, s.loan_id IS NOT NULL AS in_snapshot,
           s.household_id AS s_household_id, s.programme_id AS s_programme_id,
           s.commune_id AS s_commune_id, s.organisation_id AS s_organisation_id,
           s.group_id AS s_group_id, COALESCE(s.outstanding, 0) AS s_outstanding,
           COALESCE(s.overdue, 0) AS s_overdue, COALESCE(s.frozen, 0) AS s_frozen,
           s.first_disbursed AS s_first_disbursed,
           m.d_opening, m.d_closing, m.d_overdue, m.d_frozen, m.disbursed, m.collected,
           m.written_off, m.interest_collected, m.interest_written_off, m.transferred_out,
           m.transferred_in, m.first_disbursed, m.disbursement_reversed,
           EXISTS (SELECT 1 FROM dirty d WHERE d.loan_id = m.loan_id) AS dirty
      FROM moves m
      LEFT JOIN LATERAL (
          SELECT * FROM reports_monthendbalance s
           WHERE s.snapshot_id = %(snapshot)s AND s.loan_id = m.loan_id
          OFFSET 0) s ON true
    UNION ALL
    SELECT s.loan_id, true, s.household_id, s.programme_id, s.commune_id, s.organisation_id,
           s.group_id, s.outstanding, s.overdue, s.frozen, s.first_disbursed,
           0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, true
      FROM dirty d
      JOIN reports_monthendbalance s ON s.snapshot_id = %(snapshot)s AND s.loan_id = d.loan_id
     WHERE NOT EXISTS (
         SELECT 1 FROM loans_loantransaction t
          WHERE t.loan_id = d.loan_id AND t.office_id = %(office)s
            AND t.value_date > %(since)s AND t.value_date <= %(as_of)s)
),
-- each group's commune (of its village) and organisation (of its chapter's), hashed once
group_keys AS MATERIALIZED (
    SELECT g.id, gv.commune_id, ch.organisation_id
      FROM borrowers_savingsgroup g
      LEFT JOIN borrowers_village gv ON gv.id = g.village_id
      LEFT JOIN borrowers_chapter ch ON ch.id = g.chapter_id
),
-- each changed loan now: its keys (the snapshot's, or looked up for a loan new since the
-- snapshot or whose keys changed: KEYS) and balances, and whether it is a loan turn
after AS MATERIALIZED (
    SELECT c.*, l.id IS NOT NULL AS rekeyed,
           COALESCE(l.household_id, c.s_household_id) AS household_id,
           COALESCE(l.programme_id, c.s_programme_id) AS programme_id,
           CASE WHEN l.id IS NULL THEN c.s_commune_id
                ELSE COALESCE(gk.commune_id, (
                    SELECT v.commune_id
                      FROM borrowers_household h
                      JOIN borrowers_village v ON v.id = h.village_id
                     WHERE h.id = l.household_id)) END AS commune_id,
           CASE WHEN l.id IS NULL THEN c.s_organisation_id ELSE gk.organisation_id END
               AS organisation_id,
           CASE WHEN l.id IS NULL THEN c.s_group_id ELSE l.group_id END AS group_id,
           l.workers_employed, l.works_built,
           c.s_outstanding + c.d_closing AS closing,
           ("""
    + first_disbursed(moves="c", snapshot="c.s_first_disbursed")
    + """ >= %(start)s) IS TRUE AS is_turn
      FROM changed c
      -- looked up only for those loans (the condition gates the lookup)
      LEFT JOIN LATERAL (
          SELECT l.id, l.household_id, l.programme_id, l.group_id, l.workers_employed,
                 l.works_built
            FROM loans_loan l
           WHERE l.id = c.loan_id AND (NOT c.in_snapshot OR c.dirty)
          OFFSET 0) l ON true
      LEFT JOIN group_keys gk ON gk.id = l.group_id
),
-- one row per changed loan under its keys now: a loan whose keys did not change adds what
-- moved; a rekeyed one adds its whole figures there and takes its snapshot figures out of its
-- snapshot keys (second part)
parts AS (
    SELECT programme_id, commune_id, organisation_id, group_id,
           CASE WHEN rekeyed THEN 1 ELSE 0 END AS loans,
           CASE WHEN rekeyed THEN s_outstanding ELSE 0 END + d_opening AS opening,
           CASE WHEN rekeyed THEN s_outstanding ELSE 0 END + d_closing AS closing,
           CASE WHEN rekeyed THEN s_overdue ELSE 0 END + d_overdue AS overdue,
           CASE WHEN rekeyed THEN s_frozen ELSE 0 END + d_frozen AS frozen,
           disbursed, collected, written_off, interest_collected, interest_written_off,
           transferred_out, transferred_in, is_turn::int AS loan_turns,
           CASE WHEN is_turn THEN COALESCE(workers_employed, (
               SELECT l.workers_employed FROM loans_loan l WHERE l.id = after.loan_id)) END
               AS workers_employed,
           CASE WHEN is_turn THEN COALESCE(works_built, (
               SELECT l.works_built FROM loans_loan l WHERE l.id = after.loan_id)) END
               AS works_built
      FROM after
    UNION ALL
    SELECT s_programme_id, s_commune_id, s_organisation_id, s_group_id, -1,
           -s_outstanding, -s_outstanding, -s_overdue, -s_frozen,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL
      FROM after
     WHERE rekeyed AND in_snapshot
),
delta AS (
    SELECT """
    + DIMENSION_KEY
    + """,
           SUM(loans) AS loans, SUM(opening) AS opening, SUM(disbursed) AS disbursed,
           SUM(collected) AS collected, SUM(written_off) AS written_off,
           SUM(interest_collected) AS interest_collected,
           SUM(interest_written_off) AS interest_written_off,
           SUM(transferred_out) AS transferred_out, SUM(transferred_in) AS transferred_in,
           SUM(closing) AS closing, SUM(overdue) AS overdue, SUM(frozen) AS frozen,
           SUM(loan_turns) AS loan_turns, SUM(workers_employed) AS workers_employed,
           SUM(works_built) AS works_built
      FROM parts
     GROUP BY """
    + GROUPING
    + """
)
-- the changed loans of the share summed by key, and the loans that may change a customer count:
-- they gained or lost a balance, or were rekeyed (as arrays: reports.delta)
SELECT *
  FROM (SELECT """
    + arrays(DELTA_COLUMNS)
    + """ FROM delta) d,
       (SELECT """
    + arrays(FLIP_COLUMNS)
    + """
          FROM (SELECT *, closing > 0 AS has FROM after
                 WHERE rekeyed OR (s_outstanding > 0) <> (closing > 0)) a) f
"""
)

# Customers with a balance, recounted for the households where a loan gained or lost a balance
# or was rekeyed (%(flips)s: DELTA_SQL's second column, every share's) and for the households of
# one share: a loan that did neither has a balance now exactly where it had one. The difference
# per key to the snapshot's count.
CUSTOMERS_SQL = (
    """
WITH flips AS (
    SELECT * FROM """
    + unnest(FLIP_COLUMNS, prefix="f")
    + """
),
flipped AS MATERIALIZED (
    SELECT household_id FROM (
        SELECT s_household_id AS household_id FROM flips WHERE in_snapshot
        UNION
        SELECT household_id FROM flips
    ) h
     WHERE household_id %% %(shares)s = %(share)s
),
-- their loans at the snapshot, each household's looked up by the index
their_loans AS MATERIALIZED (
    SELECT s.*
      FROM flipped f
     CROSS JOIN LATERAL (
          SELECT * FROM reports_monthendbalance s
           WHERE s.snapshot_id = %(snapshot)s AND s.household_id = f.household_id
          OFFSET 0) s
),
-- whether each of those loans had a balance at the snapshot (under the snapshot's keys) and
-- has one now (under its keys now: the snapshot's, unless it was rekeyed: second part)
recount AS (
    SELECT s.household_id, s.programme_id, s.commune_id, s.organisation_id, s.group_id,
           s.outstanding > 0 AS had,
           NOT COALESCE(a.rekeyed, false) AND COALESCE(a.has, s.outstanding > 0) AS has
      FROM their_loans s
      LEFT JOIN flips a ON a.loan_id = s.loan_id
    UNION ALL
    SELECT household_id, programme_id, commune_id, organisation_id, group_id, false, true
      FROM flips
     WHERE rekeyed AND has AND household_id %% %(shares)s = %(share)s
),
households AS (
    SELECT GROUPING(programme_id, commune_id, organisation_id, group_id) AS level,
           programme_id, commune_id, organisation_id, group_id,
           BOOL_OR(had) AS had, BOOL_OR(has) AS has
      FROM recount
     GROUP BY GROUPING SETS ((household_id), (household_id, programme_id),
                             (household_id, commune_id), (household_id, organisation_id),
                             (household_id, group_id))
),
customers AS (
    SELECT CASE level WHEN 7 THEN 'programme' WHEN 11 THEN 'commune'
                      WHEN 13 THEN 'organisation' WHEN 14 THEN 'group' ELSE 'total' END
               AS dimension,
           CASE level WHEN 7 THEN programme_id WHEN 11 THEN commune_id
                      WHEN 13 THEN organisation_id WHEN 14 THEN group_id END AS key,
           SUM(has::int - had::int)::bigint AS customers
      FROM households
     WHERE had <> has
     GROUP BY 1, 2
)
SELECT """
    + arrays(CUSTOMER_COLUMNS)
    + """ FROM customers
"""
)

# Which figures the snapshot's totals (MonthEndTotal), a share's DELTA_SQL and a share's
# CUSTOMERS_SQL hold; the others are 0 there.
SNAPSHOT_TOTALS = {
    "loans": "loans",
    "opening": "outstanding",
    "closing": "outstanding",
    "overdue": "overdue",
    "frozen": "frozen",
    "customers": "customers",
}
DELTA_FIGURES = tuple(name for name, _kind in DELTA_COLUMNS[2:])


def combine_sql(shares: int) -> str:
    """The figures rows (NAMED) of the snapshot's totals plus every share's DELTA_SQL and
    CUSTOMERS_SQL arrays (parameters d<share>_<column>, c<share>_<column>). Each source has one
    row per key, so they are joined on it rather than grouped: summing 30,000 rows by key cost
    a hundred milliseconds in aggregate states."""
    deltas = [f"d{share}" for share in range(shares)]
    counts = [f"c{share}" for share in range(shares)]
    sources = [
        't AS (SELECT dimension::text COLLATE "C" AS dimension, COALESCE(key, -1) AS k, '
        + ", ".join(f"{column} AS {name}" for name, column in SNAPSHOT_TOTALS.items())
        + " FROM reports_monthendtotal WHERE snapshot_id = %(snapshot)s)"
    ]
    sources += [
        f'{name} AS (SELECT dimension COLLATE "C" AS dimension, COALESCE(key, -1) AS k, '
        + ", ".join(DELTA_FIGURES)
        + " FROM "
        + unnest(DELTA_COLUMNS, prefix=name)
        + ")"
        for name in deltas
    ]
    sources += [
        f'{name} AS (SELECT dimension COLLATE "C" AS dimension, COALESCE(key, -1) AS k,'
        " customers FROM " + unnest(CUSTOMER_COLUMNS, prefix=name) + ")"
        for name in counts
    ]

    def added(figure: str) -> str:
        holders = ["t"] if figure in SNAPSHOT_TOTALS else []
        holders += deltas if figure in DELTA_FIGURES else []
        holders += counts if figure == "customers" else []
        return " + ".join(f"COALESCE({holder}.{figure}, 0)" for holder in holders)

    return (
        "WITH "
        + ",\n".join(sources)
        + ",\nfigures AS (\n    SELECT dimension, NULLIF(k, -1) AS key, "
        + ", ".join(f"{added(figure)} AS {figure}" for figure in ("loans", *FIGURE_COLUMNS))
        + "\n      FROM t "
        + " ".join(f"FULL JOIN {name} USING (dimension, k)" for name in deltas + counts)
        + "\n)"
        + NAMED
    )


# --- snapshots ------------------------------------------------------------------------------------

# The balances at a month end (start = the day after: no flows) with the current keys.
TAKE_ROWS_SQL = (
    "INSERT INTO reports_monthendbalance (snapshot_id, loan_id, outstanding, overdue, frozen,"
    " first_disbursed, household_id, programme_id, commune_id, organisation_id, group_id)"
    " WITH"
    + BALANCES
    + """
SELECT %(new)s, k.loan_id, k.closing, k.overdue, k.frozen, k.first_disbursed,
       k.household_id, k.programme_id, k.commune_id, k.organisation_id, k.group_id
  FROM ("""
    + keys(
        columns="b.loan_id, b.closing, b.overdue, b.frozen, b.first_disbursed",
        source="balances b",
        alias="b",
    )
    + """) k
"""
)

TAKE_TOTALS_SQL = (
    """
INSERT INTO reports_monthendtotal
    (snapshot_id, dimension, key, loans, outstanding, overdue, frozen, customers)
SELECT %(new)s, """
    + DIMENSION_KEY
    + """,
       COUNT(*), COALESCE(SUM(outstanding), 0), COALESCE(SUM(overdue), 0),
       COALESCE(SUM(frozen), 0), COUNT(DISTINCT household_id) FILTER (WHERE outstanding > 0)
  FROM reports_monthendbalance
 WHERE snapshot_id = %(new)s
 GROUP BY """
    + GROUPING
)

# Stored rows against the ledger summed from scratch: the loans whose balances differ.
CHECK_ROWS_SQL = (
    "WITH"
    + BALANCES
    + """,
stored AS (
    SELECT loan_id, outstanding, overdue, frozen, first_disbursed
      FROM reports_monthendbalance
     WHERE snapshot_id = %(stored)s
)
SELECT COALESCE(b.loan_id, s.loan_id)
  FROM balances b
  FULL JOIN stored s ON s.loan_id = b.loan_id
 WHERE b.loan_id IS NULL OR s.loan_id IS NULL
    OR (b.closing, b.overdue, b.frozen) IS DISTINCT FROM (s.outstanding, s.overdue, s.frozen)
    OR b.first_disbursed IS DISTINCT FROM s.first_disbursed
 ORDER BY 1
 LIMIT %(limit)s
"""
)

# Stored totals against the stored rows rolled up again: the number of rows that differ.
CHECK_TOTALS_SQL = (
    """
WITH again AS (
    SELECT """
    + DIMENSION_KEY
    + """,
           COUNT(*) AS loans, COALESCE(SUM(outstanding), 0) AS outstanding,
           COALESCE(SUM(overdue), 0) AS overdue, COALESCE(SUM(frozen), 0) AS frozen,
           COUNT(DISTINCT household_id) FILTER (WHERE outstanding > 0) AS customers
      FROM reports_monthendbalance
     WHERE snapshot_id = %(stored)s
     GROUP BY """
    + GROUPING
    + """
),
stored AS (
    SELECT dimension, key, loans, outstanding, overdue, frozen, customers
      FROM reports_monthendtotal
     WHERE snapshot_id = %(stored)s
)
SELECT COUNT(*)
  FROM again a
  FULL JOIN stored s ON s.dimension = a.dimension AND COALESCE(s.key, -1) = COALESCE(a.key, -1)
 WHERE (a.loans, a.outstanding, a.overdue, a.frozen, a.customers)
       IS DISTINCT FROM (s.loans, s.outstanding, s.overdue, s.frozen, s.customers)
"""
)
