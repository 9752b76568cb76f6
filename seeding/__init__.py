"""Loaders that fill an office from outside: the portfolio import, the demo office, the synthetic
offices of the benchmarks and the benchmark commands. They sit above the domain apps and post
through the rulebook (loans.ledger); nothing below imports them."""
