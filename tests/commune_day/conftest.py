"""The cast of the commune day: a team of three in office A (leader, controller, teller)."""

import pytest

from ..conftest import _member


@pytest.fixture
def controller_a(office_a):
    return _member(office_a, "controller_a", "staff")


@pytest.fixture
def teller_a(office_a):
    return _member(office_a, "teller_a", "staff")
