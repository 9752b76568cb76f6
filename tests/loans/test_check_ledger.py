import pytest
from django.core.management import CommandError, call_command
from django.db import connection


def test_check_ledger_is_clean_after_services(active_loan, capsys):
    call_command("check_ledger")
    assert "agree" in capsys.readouterr().out


def test_check_ledger_fails_on_a_drifted_cache(active_loan):
    with connection.cursor() as cursor:
        # Only a superuser bypassing every trigger can make the cache drift; prove it is caught.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE loans_loan SET outstanding = 1 WHERE id = %s", [active_loan.pk])
        cursor.execute("SET session_replication_role = DEFAULT")
    with pytest.raises(CommandError, match="1 loan"):
        call_command("check_ledger")
    with connection.cursor() as cursor:
        # Put it back, or the deferred cache trigger rightly refuses this test's transaction.
        cursor.execute(
            "UPDATE loans_loan SET outstanding = 50000000 WHERE id = %s", [active_loan.pk]
        )
