"""Portfolio import (docs/import-format.md).

`read_portfolio` (.read) turns a folder of CSV files or one XLSX workbook into plain tables of
strings; `import_portfolio` (.write) checks every row in memory with the rules the services apply
(.check: each loan's balances simulated entry by entry, in integers) and only if nothing is wrong
writes everything with bulk inserts in one transaction. The per-entry services are not called in
a loop: an office's history is 100,000+ entries and must load in seconds, so the simulation
computes the ledger effects, the statuses and the refusals with the rulebook the services post
with (`loans.ledger`).
"""

from .check import ImportSummary
from .read import FIELD_LIMIT, FILES, ImportFailed, Portfolio, in_memory, read_portfolio
from .write import import_portfolio, schedule_from_records

__all__ = [
    "FIELD_LIMIT",
    "FILES",
    "ImportFailed",
    "ImportSummary",
    "Portfolio",
    "import_portfolio",
    "in_memory",
    "read_portfolio",
    "schedule_from_records",
]
