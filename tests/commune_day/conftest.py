"""The cast of the commune day: a team of three in office A (leader, controller, teller). Its
tests read refusals and command output in English (the msgids); a page rendered through the
client is still in the language its request asks for."""

import pytest
from django.utils import translation

from ..conftest import _member


@pytest.fixture
def controller_a(office_a):
    return _member(office_a, "controller_a", "staff")


@pytest.fixture
def teller_a(office_a):
    return _member(office_a, "teller_a", "staff")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield
