"""Member savings: accounts and their append-only ledger."""
