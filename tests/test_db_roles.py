"""Two database roles (issue 10, point 9; docs/decisions/0010-two-database-roles.md).

The test run is the owner (it creates and migrates its database); these tests connect as the
application role, the one web, worker and beat use, and prove it cannot rewrite history. With a
single DATABASE_URL (no application role configured), they create one for this test database
with the same grants `manage.py migrate` gives the configured one.
"""

import os
import socket
import subprocess
import sys

import psycopg2
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction
from psycopg2 import errorcodes

from branch_portal import db_roles

from .processes import ROOT, test_database_url

pytestmark = pytest.mark.django_db

LEDGER = "loans_loantransaction"


@pytest.fixture
def app_cursor(app_role):
    conn = psycopg2.connect(**app_role)
    conn.autocommit = True
    yield conn.cursor()
    conn.close()


def refusal(cursor, statement: str) -> psycopg2.Error:
    with pytest.raises(psycopg2.Error) as caught:
        cursor.execute(statement)
    return caught.value


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (f"TRUNCATE {LEDGER}", f"permission denied for table {LEDGER}"),
        (f"UPDATE {LEDGER} SET amount = 1", f"permission denied for table {LEDGER}"),
        (f"DELETE FROM {LEDGER}", f"permission denied for table {LEDGER}"),
        (f"ALTER TABLE {LEDGER} DISABLE TRIGGER ALL", "must be owner of"),
        (
            f"ALTER TABLE {LEDGER} DISABLE TRIGGER pgtrigger_ledger_append_only_54723",
            "must be owner of",
        ),
        (f"DROP TRIGGER refuse_truncate ON {LEDGER}", "must be owner of"),
        (
            "SET session_replication_role = replica",
            'permission denied to set parameter "session_replication_role"',
        ),
        ("UPDATE loans_loanevent SET number = 'x'", "permission denied for table loans_loanevent"),
        ("DELETE FROM borrowers_householdevent", "permission denied for table borrowers_household"),
        ("TRUNCATE loans_loan", "permission denied for table loans_loan"),
        ("DELETE FROM django_migrations", "permission denied for table django_migrations"),
        ("CREATE TABLE bp_app_owned (id int)", "permission denied for schema public"),
    ],
)
def test_the_application_role_cannot_rewrite_history(app_cursor, statement, message):
    error = refusal(app_cursor, statement)
    assert error.pgcode == errorcodes.INSUFFICIENT_PRIVILEGE, error
    assert message in str(error)


def test_the_application_role_owns_nothing_and_is_no_superuser(app_role):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = %s",
            [app_role["user"]],
        )
        assert cursor.fetchone() == (False, False, False, False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
            "WHERE rolname = %s)",
            [app_role["user"]],
        )
        assert cursor.fetchone() == (0,)


def test_the_application_role_reads_and_appends_to_the_ledger_and_histories(app_role):
    role = app_role["user"]
    insert_only = db_roles.insert_only_tables()
    assert {LEDGER, "loans_importbatch", "loans_loanevent", "borrowers_householdevent"} <= set(
        insert_only
    )
    # The histories the auditor's timeline reads (borrowers/0009) are history too.
    assert {
        "borrowers_householdcategoryevent",
        "borrowers_previousidentityevent",
        "borrowers_groupmembershipevent",
    } <= set(insert_only)
    with connection.cursor() as cursor:
        for table in insert_only:
            cursor.execute(
                "SELECT has_table_privilege(%(r)s, %(t)s, 'SELECT'), "
                "has_table_privilege(%(r)s, %(t)s, 'INSERT'), "
                "has_table_privilege(%(r)s, %(t)s, 'UPDATE'), "
                "has_table_privilege(%(r)s, %(t)s, 'DELETE'), "
                "has_table_privilege(%(r)s, %(t)s, 'TRUNCATE'), "
                "has_table_privilege(%(r)s, %(t)s, 'TRIGGER')",
                {"r": role, "t": table},
            )
            assert cursor.fetchone() == (True, True, False, False, False, False), table
        # Everything else it may change as the services need (a loan's cached balances, a
        # re-opened month, a rebuilt snapshot), but not truncate.
        for table in ("loans_loan", "loans_closedmonth", "reports_monthendbalance"):
            cursor.execute(
                "SELECT has_table_privilege(%(r)s, %(t)s, 'UPDATE, DELETE'), "
                "has_table_privilege(%(r)s, %(t)s, 'TRUNCATE')",
                {"r": role, "t": table},
            )
            assert cursor.fetchone() == (True, False), table


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_tables_a_later_migration_creates_get_the_grants(app_role):
    """Default privileges: a table created by the owner after the setup is usable at once."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bp_later_table (id bigint GENERATED BY DEFAULT AS IDENTITY)")
    try:
        conn = psycopg2.connect(**app_role)
        with conn, conn.cursor() as cursor:
            cursor.execute("INSERT INTO bp_later_table DEFAULT VALUES RETURNING id")
            assert cursor.fetchone() == (1,)
        conn.close()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bp_later_table")


def test_the_owner_may_not_truncate_the_ledger_either():
    """A statement trigger: the append-only row trigger never sees a TRUNCATE. The test
    database allows it (its flush); production sessions do not set the setting."""
    with connection.cursor() as cursor:
        # Inside the test's transaction: rolled back with it.
        cursor.execute(f"SET LOCAL {db_roles.ALLOW_TRUNCATE} = 'off'")
        for table in (
            LEDGER,
            "loans_importbatch",
            "borrowers_householdevent",
            "reports_dimensionchange",
        ):
            refused = pytest.raises(ProgrammingError, match=f"{table} is append-only: TRUNCATE")
            with refused as e, transaction.atomic():
                cursor.execute(f"TRUNCATE {table} CASCADE")
            assert e.value.__cause__.pgcode == errorcodes.INSUFFICIENT_PRIVILEGE


def test_setup_db_roles_is_idempotent(app_role, capsys):
    call_command("setup_db_roles")
    call_command("setup_db_roles")
    out = capsys.readouterr().out
    assert "TRUNCATE refused on" in out
    if settings.APP_DATABASE["USER"] != connection.settings_dict["USER"]:
        assert out.count(f"granted {settings.APP_DATABASE['USER']} its privileges") == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migrate_as_the_application_role_is_refused_with_a_clear_message(app_role):
    from urllib.parse import quote

    user = quote(app_role["user"], safe="")
    if app_role["password"]:
        user += ":" + quote(app_role["password"], safe="")
    host = app_role["host"] or "localhost"
    if host.startswith("/"):
        url = f"postgres://{user}@/{app_role['dbname']}?host={host}"
    else:
        url = f"postgres://{user}@{host}:{app_role['port'] or 5432}/{app_role['dbname']}"
    for command in ("migrate", "setup_db_roles"):
        done = manage(command, url=url)
        assert done.returncode == 1, done.stderr
        assert "must connect as the owner (set DATABASE_OWNER_URL)" in done.stderr
        assert "Traceback" not in done.stderr


def manage(*args, url: str, owner_url: str = "", timeout: int = 300):
    env = {**os.environ, "DEVELOPMENT": "true", "DATABASE_URL": url}
    env["DATABASE_OWNER_URL"] = owner_url
    env.pop("REDIS_URL", None)  # tasks in-process
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_process_connects_as_the_application_role_and_migrate_as_the_owner(app_role):
    app = settings.APP_DATABASE
    if app["USER"] == connection.settings_dict["USER"]:
        pytest.skip("one role configured (a single DATABASE_URL): nothing to switch")
    owner_url = test_database_url(owner=True)
    code = (
        "from django.db import connection as c; c.cursor().execute('SELECT 1'); "
        "print(c.settings_dict['USER'])"
    )
    shell = manage("shell", "-c", code, url=test_database_url(), owner_url=owner_url)
    assert shell.stdout.strip().splitlines()[-1] == app["USER"], shell.stderr
    # One URL only: everything as that role.
    single = manage("shell", "-c", code, url=owner_url)
    assert single.stdout.strip().splitlines()[-1] == connection.settings_dict["USER"]
    migrate = manage("migrate", "--noinput", url=test_database_url(), owner_url=owner_url)
    assert migrate.returncode == 0, migrate.stderr
    assert f"granted {app['USER']} its privileges" in migrate.stdout


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_benchmark_commands_run_with_two_roles(app_role):
    """make bench's loader runs as the owner (replica mode), the rest as the application role:
    a small synthetic office, its history closed, the ledger checked."""
    app = settings.APP_DATABASE
    if app["USER"] == connection.settings_dict["USER"]:
        pytest.skip("one role configured (a single DATABASE_URL)")
    url, owner_url = test_database_url(), test_database_url(owner=True)
    seeded = manage(
        "seed_synthetic", "--office", "RB", "--households", "60", "--loans", "120",
        "--entries", "1200", url=url, owner_url=owner_url,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    user = manage(
        "createsuperuser", "--noinput", "--username", "bench_admin", "--email", "b@localhost",
        url=url, owner_url=owner_url,
    )  # fmt: skip
    assert user.returncode == 0, user.stderr
    closed = manage(
        "close_history", "--office", "RB", "--through", "2021-05", "--user", "bench_admin",
        url=url, owner_url=owner_url,
    )  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    checked = manage("check_ledger", url=url, owner_url=owner_url)
    assert checked.returncode == 0, checked.stderr
    # The API's load test: its own gunicorn worker as the application role, receipts held.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bench = manage(
        "bench_api_receipts", "--office", "RB", "--user", "bench_admin", "--requests", "20",
        "--concurrency", "2", "--port", str(port), url=url, owner_url=owner_url,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stdout + bench.stderr
    assert "answers: {201: 20}" in bench.stdout and "receipts/s" in bench.stdout
