"""The four-eyes (maker-checker) hooks borrowers calls for a citizen-ID change.

The policy and the requests live in loans (loans.approvals), which sits above borrowers: borrowers
may not import it. So loans sets these two hooks in its AppConfig.ready() (dependency inversion,
docs/decisions/0012-maker-checker.md); until then (loans not loaded) nothing is held.
"""

from collections.abc import Callable
from typing import Any

# gate(household=, approval=): the checker when an approval covers the change, None when the
# policy does not hold it; raises (loans.approvals.Held) when it holds it without an approval.
gate: Callable[..., Any] | None = None
# perform(operation, user=, **kwargs): runs the service, or makes a pending request; returns an
# outcome whose `request` is the request made (None when the change was made at once).
perform: Callable[..., Any] | None = None
