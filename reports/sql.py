"""The SQL of the period figures and of the month-end snapshots (used by reports.selectors and
reports.snapshots). Parameters: office, start, as_of; snapshot (a MonthEndSnapshot id or NULL)
and since (its month end, or 0001-01-01 without one).

Two ways to the same figures:

- FIGURES_SQL (the reference): every loan's balances = its snapshot row + its entries dated after
  the snapshot (or all its entries without one), joined to its current breakdown keys and rolled
  up with GROUPING SETS. Cost: every loan of the office.
- FAST_FIGURES_SQL, when a snapshot exists: the snapshot's rolled-up totals (MonthEndTotal) plus,
  for the loans that changed since (an entry dated after the snapshot, or a breakdown key changed,
  DimensionChange) and the other loans of their households (for the distinct-customer counts),
  their new figures under their current keys minus their snapshot figures under their snapshot
  keys. Cost: the changed loans only.
"""

# The report query reads a million rows once: compiling it (JIT) cost 5 s, and 4 MB of work
# memory made its aggregations spill to disk.
REPORT_SESSION_SQL = "SET LOCAL jit = off; SET LOCAL work_mem = '128MB'"

# The flow columns and the entry kind each sums (a reversal counts in its cancelled entry's).
FLOW_KINDS = (
    ("disbursed", "disbursement"),
    ("collected", "principal_repayment"),
    ("written_off", "write_off"),
    ("interest_collected", "interest_payment"),
    ("transferred_out", "transfer_out"),
    ("transferred_in", "transfer_in"),
)
FLOWS = ",\n".join(
    "           SUM(CASE WHEN t.kind = 'reversal' THEN -t.amount ELSE t.amount END)\n"
    f"               FILTER (WHERE t.value_date >= %(start)s AND t.counted_kind = '{kind}')"
    f" AS {column}"
    for column, kind in FLOW_KINDS
)

# Each loan's entries dated in (since, as_of]: balance movements, flows in [start, as_of] (a
# reversal negatively, in the column of the entry it cancels, on its own value date), its first
# disbursement not reversed by as_of among them, and whether one of them reverses a disbursement.
MOVES = (
    """
moves AS (
    SELECT t.loan_id,
           SUM(t.d_outstanding) FILTER (WHERE t.value_date < %(start)s) AS d_opening,
           SUM(t.d_outstanding) AS d_closing,
           SUM(t.d_overdue) AS d_overdue,
           SUM(t.d_frozen) AS d_frozen,
"""
    + FLOWS
    + """,
           MIN(t.value_date) FILTER (WHERE t.kind = 'disbursement' AND r.id IS NULL)
               AS first_disbursed,
           BOOL_OR(t.kind = 'reversal' AND t.counted_kind = 'disbursement')
               AS disbursement_reversed
      FROM loans_loantransaction t
      -- the reversal (if any, by as_of) of each entry: reverses_id is unique
      LEFT JOIN loans_loantransaction r
             ON r.reverses_id = t.id AND r.value_date <= %(as_of)s
     WHERE t.office_id = %(office)s AND t.value_date > %(since)s AND t.value_date <= %(as_of)s
     GROUP BY t.loan_id
)"""
)

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
    + MOVES
    + """,
balances AS (
    SELECT COALESCE(m.loan_id, s.loan_id) AS loan_id,
           COALESCE(s.outstanding, 0) + COALESCE(m.d_opening, 0) AS opening,
           COALESCE(s.outstanding, 0) + COALESCE(m.d_closing, 0) AS closing,
           COALESCE(s.overdue, 0) + COALESCE(m.d_overdue, 0) AS overdue,
           COALESCE(s.frozen, 0) + COALESCE(m.d_frozen, 0) AS frozen,
           m.disbursed, m.collected, m.written_off, m.interest_collected,
           m.transferred_out, m.transferred_in,
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


def keys(*, columns: str, source: str, alias: str, few: bool = False) -> str:
    """KEYS for the loans of `source`; `few`: look each loan up by its id (a few thousand
    changed loans), where a join would hash the office's million loans (OFFSET 0 keeps the
    planner from turning the lookup back into a join)."""
    loan = (
        f"CROSS JOIN LATERAL (SELECT * FROM loans_loan l WHERE l.id = {alias}.loan_id OFFSET 0) l"
        if few
        else f"JOIN loans_loan l ON l.id = {alias}.loan_id"
    )
    return KEYS.format(columns=columns, source=source, loan=loan)


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

FIGURE_COLUMNS = (
    "opening, disbursed, collected, written_off, interest_collected, transferred_out, "
    "transferred_in, closing, overdue, frozen, customers, loan_turns, workers_employed, "
    "works_built"
)

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
    + ", ".join(f"f.{c.strip()}" for c in FIGURE_COLUMNS.split(","))
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
            OR (txid = %(seen_txid)s AND id > %(seen_change)s))
)"""

FAST_FIGURES_SQL = (
    "WITH"
    + MOVES
    + ","
    + DIRTY
    + """,
-- the loans that changed since the snapshot: entries dated after it, or keys changed (those the
-- snapshot holds); with their snapshot row (s_*) where they have one
changed AS (
    SELECT i.loan_id, s.loan_id AS s_loan_id,
           s.household_id AS s_household_id, s.programme_id AS s_programme_id,
           s.commune_id AS s_commune_id, s.organisation_id AS s_organisation_id,
           s.group_id AS s_group_id, COALESCE(s.outstanding, 0) AS s_outstanding,
           COALESCE(s.overdue, 0) AS s_overdue, COALESCE(s.frozen, 0) AS s_frozen,
           s.first_disbursed AS s_first_disbursed,
           m.d_opening, m.d_closing, m.d_overdue, m.d_frozen, m.disbursed, m.collected,
           m.written_off, m.interest_collected, m.transferred_out, m.transferred_in,
           m.first_disbursed, m.disbursement_reversed
      FROM (SELECT loan_id FROM moves UNION SELECT loan_id FROM dirty) i
      -- looked up by loan (the primary key), not by scanning the snapshot
      LEFT JOIN LATERAL (
          SELECT * FROM reports_monthendbalance s
           WHERE s.snapshot_id = %(snapshot)s AND s.loan_id = i.loan_id
          OFFSET 0) s ON true
      LEFT JOIN moves m ON m.loan_id = i.loan_id
     WHERE m.loan_id IS NOT NULL OR s.loan_id IS NOT NULL
),
-- the current keys of the changed loans that are new since the snapshot or whose keys changed
rekeyed AS ("""
    + keys(columns="c.loan_id", source="changed c", alias="c", few=True)
    + """
     WHERE c.s_loan_id IS NULL OR c.loan_id IN (SELECT loan_id FROM dirty)
),
-- each changed loan now: its keys (the snapshot's unless rekeyed) and figures
after AS (
    SELECT c.*,
           COALESCE(k.household_id, c.s_household_id) AS household_id,
           COALESCE(k.programme_id, c.s_programme_id) AS programme_id,
           COALESCE(k.commune_id, c.s_commune_id) AS commune_id,
           CASE WHEN k.loan_id IS NULL THEN c.s_organisation_id ELSE k.organisation_id END
               AS organisation_id,
           CASE WHEN k.loan_id IS NULL THEN c.s_group_id ELSE k.group_id END AS group_id,
           c.s_outstanding + COALESCE(c.d_opening, 0) AS opening,
           c.s_outstanding + COALESCE(c.d_closing, 0) AS closing,
           c.s_overdue + COALESCE(c.d_overdue, 0) AS overdue,
           c.s_frozen + COALESCE(c.d_frozen, 0) AS frozen,
           ("""
    + first_disbursed(moves="c", snapshot="c.s_first_disbursed")
    + """ >= %(start)s) IS TRUE AS is_turn,
           -- whether the loan can change its household's customer count somewhere: it gains
           -- or loses a balance, or its keys changed
           (k.loan_id IS NOT NULL
            OR (c.s_outstanding > 0) <> (c.s_outstanding + COALESCE(c.d_closing, 0) > 0))
               AS flips
      FROM changed c
      LEFT JOIN rekeyed k ON k.loan_id = c.loan_id
),
-- additive figures: each changed loan's figures now under its keys now, minus its snapshot
-- figures under the snapshot's keys
delta AS (
    SELECT """
    + DIMENSION_KEY
    + """,
           SUM(sign) AS loans, SUM(sign * opening) AS opening, SUM(disbursed) AS disbursed,
           SUM(collected) AS collected, SUM(written_off) AS written_off,
           SUM(interest_collected) AS interest_collected,
           SUM(transferred_out) AS transferred_out, SUM(transferred_in) AS transferred_in,
           SUM(sign * closing) AS closing, SUM(sign * overdue) AS overdue,
           SUM(sign * frozen) AS frozen,
           COUNT(*) FILTER (WHERE is_turn) AS loan_turns,
           SUM(workers_employed) FILTER (WHERE is_turn) AS workers_employed,
           SUM(works_built) FILTER (WHERE is_turn) AS works_built
      FROM (
        SELECT -1 AS sign, s_household_id AS household_id, s_programme_id AS programme_id,
               s_commune_id AS commune_id, s_organisation_id AS organisation_id,
               s_group_id AS group_id, s_outstanding AS opening, s_outstanding AS closing,
               s_overdue AS overdue, s_frozen AS frozen, NULL::bigint AS disbursed,
               NULL::bigint AS collected, NULL::bigint AS written_off,
               NULL::bigint AS interest_collected, NULL::bigint AS transferred_out,
               NULL::bigint AS transferred_in, false AS is_turn, 0 AS workers_employed,
               0 AS works_built
          FROM after WHERE s_loan_id IS NOT NULL
        UNION ALL
        SELECT 1, household_id, programme_id, commune_id, organisation_id, group_id,
               opening, closing, overdue, frozen, disbursed, collected, written_off,
               interest_collected, transferred_out, transferred_in, is_turn,
               CASE WHEN is_turn THEN (SELECT l.workers_employed FROM loans_loan l
                                        WHERE l.id = after.loan_id) END,
               CASE WHEN is_turn THEN (SELECT l.works_built FROM loans_loan l
                                        WHERE l.id = after.loan_id) END
          FROM after
      ) d
     GROUP BY """
    + GROUPING
    + """
),
-- customers: recounted for the households where a loan flips (before: their snapshot loans;
-- now: the same loans as they are now, and their new loans)
flipped AS (
    SELECT s_household_id AS household_id FROM after WHERE flips AND s_loan_id IS NOT NULL
    UNION
    SELECT household_id FROM after WHERE flips
),
recount AS (
    SELECT -1 AS sign, s.household_id, s.programme_id, s.commune_id, s.organisation_id,
           s.group_id, s.outstanding > 0 AS has_balance
      FROM reports_monthendbalance s
     WHERE s.snapshot_id = %(snapshot)s
       AND s.household_id IN (SELECT household_id FROM flipped)
    UNION ALL
    SELECT 1, COALESCE(a.household_id, s.household_id), COALESCE(a.programme_id, s.programme_id),
           COALESCE(a.commune_id, s.commune_id),
           CASE WHEN a.loan_id IS NULL THEN s.organisation_id ELSE a.organisation_id END,
           CASE WHEN a.loan_id IS NULL THEN s.group_id ELSE a.group_id END,
           COALESCE(a.closing, s.outstanding) > 0
      FROM reports_monthendbalance s
      LEFT JOIN after a ON a.loan_id = s.loan_id
     WHERE s.snapshot_id = %(snapshot)s
       AND s.household_id IN (SELECT household_id FROM flipped)
    UNION ALL
    SELECT 1, household_id, programme_id, commune_id, organisation_id, group_id, closing > 0
      FROM after
     WHERE s_loan_id IS NULL AND household_id IN (SELECT household_id FROM flipped)
),
-- whether each recounted household had and has a balance under each key (hashed, not sorted:
-- no DISTINCT), then the difference per key
households AS (
    SELECT GROUPING(programme_id, commune_id, organisation_id, group_id) AS level,
           programme_id, commune_id, organisation_id, group_id,
           COALESCE(BOOL_OR(has_balance) FILTER (WHERE sign = 1), false) AS has,
           COALESCE(BOOL_OR(has_balance) FILTER (WHERE sign = -1), false) AS had
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
           SUM(has::int - had::int) AS customers
      FROM households
     GROUP BY 1, 2
),
base AS (
    SELECT dimension, key, loans, outstanding, overdue, frozen, customers
      FROM reports_monthendtotal
     WHERE snapshot_id = %(snapshot)s
),
figures AS (
    SELECT COALESCE(b.dimension, d.dimension, u.dimension) AS dimension,
           COALESCE(b.key, d.key, u.key) AS key,
           COALESCE(b.loans, 0) + COALESCE(d.loans, 0) AS loans,
           COALESCE(b.outstanding, 0) + COALESCE(d.opening, 0) AS opening,
           COALESCE(d.disbursed, 0) AS disbursed, COALESCE(d.collected, 0) AS collected,
           COALESCE(d.written_off, 0) AS written_off,
           COALESCE(d.interest_collected, 0) AS interest_collected,
           COALESCE(d.transferred_out, 0) AS transferred_out,
           COALESCE(d.transferred_in, 0) AS transferred_in,
           COALESCE(b.outstanding, 0) + COALESCE(d.closing, 0) AS closing,
           COALESCE(b.overdue, 0) + COALESCE(d.overdue, 0) AS overdue,
           COALESCE(b.frozen, 0) + COALESCE(d.frozen, 0) AS frozen,
           COALESCE(b.customers, 0) + COALESCE(u.customers, 0) AS customers,
           COALESCE(d.loan_turns, 0) AS loan_turns,
           COALESCE(d.workers_employed, 0) AS workers_employed,
           COALESCE(d.works_built, 0) AS works_built
      FROM base b
      FULL JOIN delta d
        ON d.dimension = b.dimension AND COALESCE(d.key, -1) = COALESCE(b.key, -1)
      FULL JOIN customers u
        ON u.dimension = COALESCE(b.dimension, d.dimension)
       AND COALESCE(u.key, -1) = COALESCE(b.key, d.key, -1)
)"""
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
