"""The range of an amount of money: one bound that every form field, service, importer row and
database column shares."""

# The largest amount of đồng anything may carry: 999.999.999.999.999 (a million billion đồng,
# some forty billion dollars, while a policy loan is at most a few billion đồng). It stays well
# below PostgreSQL's bigint (about 9.2 × 10^18) so that sums cannot overflow: a report adds up
# an office's entries, and nine thousand entries at this bound still fit in a bigint where one
# amount near 2^63 broke every report of its office. It also has 15 digits, as many as an XLSX
# cell or a JSON number in the browser holds exactly.
MAX_AMOUNT = 10**15 - 1


def amount_in_range(amount: int) -> bool:
    """A whole, positive amount of đồng no larger than MAX_AMOUNT."""
    return isinstance(amount, int) and not isinstance(amount, bool) and 0 < amount <= MAX_AMOUNT
