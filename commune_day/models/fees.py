"""Fees and commissions: the effective-dated rate table and what was paid."""

__all__: list[str] = []
