"""The two database roles (docs/decisions/0010-two-database-roles.md).

The owner (DATABASE_OWNER_URL) owns every table and runs the migrations; the application role
(DATABASE_URL) that web, worker and beat connect as owns nothing, so it can neither ALTER a table,
disable its triggers, nor TRUNCATE, and on the ledger and the histories it may only SELECT and
INSERT. `grant_app_role` sets that up, idempotently; `manage.py migrate` runs it after every
migration (post_migrate), so the tables a later migration creates get their grants too, and
`manage.py setup_db_roles` runs it alone.
"""

from django.apps import apps
from django.db import transaction
from psycopg2 import sql

# The tables the application may only read and append to, beside every pghistory event table:
# the loan and savings ledgers, the import batches entries point at, and the log of
# breakdown-key changes a report from a snapshot relies on. Labels, not imports: branch_portal
# sits below the apps that define them.
INSERT_ONLY_MODELS = (
    "loans.LoanTransaction",
    "loans.ImportBatch",
    "reports.DimensionChange",
    "savings.SavingsTransaction",
)
# The fee and commission rates (a new rate is a new dated row) and the fees paid in sessions.
INSERT_ONLY_MODELS += (
    "commune_day.CommissionRate",
    "commune_day.EntrustmentFeeRate",
    "commune_day.FeeTier",
    "commune_day.FeePayment",
)
# Derived tables the application refreshes and then ANALYZEs (reports.snapshots): ANALYZE is the
# owner's, or from PostgreSQL 17 on anyone's holding MAINTAIN. Before 17 the application's ANALYZE
# is skipped with a warning and autovacuum analyzes them a little later.
MAINTAIN_MODELS = ("reports.MonthEndBalance", "reports.MonthEndTotal")
# Django's record of applied migrations is the owner's business; the outbox is written only by
# its triggers' functions, which run as the owner (outbox/migrations/0002_triggers.py).
READ_ONLY_TABLES = ("django_migrations", "outbox_outboxentry", "outbox_pendingcommit")
OWNER_ONLY_SEQUENCES = ("outbox_position_seq",)
# The session setting that lets a TRUNCATE through the ledger's statement trigger (the test
# database's flush sets it; see the decision record).
ALLOW_TRUNCATE = "branch_portal.allow_truncate"

REFUSE_TRUNCATE_TRIGGER = "refuse_truncate"


def _tables(labels) -> set[str]:
    return {
        apps.get_model(label)._meta.db_table
        for label in labels
        if apps.is_installed(label.split(".")[0])
    }


def insert_only_tables() -> list[str]:
    from pghistory.models import Event

    tables = _tables(INSERT_ONLY_MODELS)
    tables |= {
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, Event) and not model._meta.proxy and model._meta.managed
    }
    return sorted(tables)


def existing_tables(cursor, names) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
        "AND c.relname = ANY(%s) ORDER BY 1",
        [list(names)],
    )
    return [row[0] for row in cursor.fetchall()]


def guard_truncate(cursor) -> list[str]:
    """A BEFORE TRUNCATE statement trigger on every insert-only table, for the owner too.
    The function comes from loans' migration 0007; without it (an older schema) nothing."""
    cursor.execute("SELECT to_regproc('bp_refuse_truncate') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return []
    tables = existing_tables(cursor, insert_only_tables())
    for table in tables:
        cursor.execute(
            sql.SQL(
                "CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bp_refuse_truncate()"
            ).format(sql.Identifier(REFUSE_TRUNCATE_TRIGGER), sql.Identifier(table))
        )
    return tables


def role_exists(cursor, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def create_app_role(cursor, role: str, password: str | None) -> bool:
    """Create the application role unless it exists (its password is set only here: an
    operator changes it with ALTER ROLE). Several test processes may race to create it."""
    if role_exists(cursor, role):
        return False
    statement = sql.SQL(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    ).format(sql.Identifier(role))
    if password:
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
    cursor.execute(
        sql.SQL(
            "DO $$ BEGIN {}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ).format(statement)
    )
    return True


class UnsafeAppRole(Exception):
    """The configured application role could rewrite history: refuse to go on."""


def check_app_role(cursor, role: str) -> None:
    cursor.execute(
        "SELECT rolsuper, rolcreaterole, rolbypassrls, rolreplication FROM pg_roles "
        "WHERE rolname = %s",
        [role],
    )
    superuser, createrole, bypassrls, replication = cursor.fetchone()
    if superuser or createrole or bypassrls or replication:
        raise UnsafeAppRole(
            f"The application role {role} is a superuser or may create roles, bypass row "
            "security or replicate; it must be a plain login role."
        )
    cursor.execute(
        "SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = %s",
        [role],
    )
    owned = cursor.fetchone()[0]
    if owned:
        raise UnsafeAppRole(
            f"The application role {role} owns {owned}; the owner must own every table "
            "(ALTER TABLE ... OWNER TO the owner, or REASSIGN OWNED)."
        )


def grant_app_role(cursor, role: str) -> None:
    """The application role's privileges on this database, as the owner (current_user)."""
    check_app_role(cursor, role)
    ident = sql.Identifier(role)
    cursor.execute("SELECT current_database(), current_schema(), current_user")
    database, schema, owner = cursor.fetchone()
    schema_id, owner_id = sql.Identifier(schema), sql.Identifier(owner)
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), ident
        ),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, ident),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(schema_id, ident),
        # Undo anything broader granted before (ALL would include TRUNCATE and TRIGGER).
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema_id, ident),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
            schema_id, ident
        ),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema_id, ident),
        # Tables and sequences a later migration creates get the same; the re-grant after
        # migrate then takes UPDATE and DELETE back from any new insert-only table.
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(owner_id, schema_id, ident),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
            "GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(owner_id, schema_id, ident),
    ]
    for table in existing_tables(cursor, insert_only_tables()):
        statements.append(
            sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(table), ident)
        )
    for table in existing_tables(cursor, READ_ONLY_TABLES):
        statements.append(
            sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(
                sql.Identifier(table), ident
            )
        )
    # The outbox's positions come only from its numbering function (which runs as the owner): the
    # application may not draw from the sequence.
    for sequence in OWNER_ONLY_SEQUENCES:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [sequence])
        if cursor.fetchone()[0]:
            statements.append(
                sql.SQL("REVOKE ALL ON SEQUENCE {} FROM {}").format(sql.Identifier(sequence), ident)
            )
    cursor.execute("SELECT current_setting('server_version_num')::int >= 170000")
    if cursor.fetchone()[0]:
        for table in existing_tables(cursor, _tables(MAINTAIN_MODELS)):
            statements.append(
                sql.SQL("GRANT MAINTAIN ON {} TO {}").format(sql.Identifier(table), ident)
            )
    for statement in statements:
        cursor.execute(statement)
    # Before PostgreSQL 15 every role may create in the public schema through PUBLIC.
    cursor.execute("SELECT has_schema_privilege(%s, %s, 'CREATE')", [role, schema])
    if cursor.fetchone()[0]:
        cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema_id))


class NotTheOwner(Exception):
    """Schema work (migrate, the grants) connected as a role that does not own the tables."""


def require_owner(cursor) -> None:
    cursor.execute(
        "SELECT tableowner, current_user FROM pg_tables "
        "WHERE schemaname = current_schema() AND tablename = 'django_migrations'"
    )
    row = cursor.fetchone()
    if row and row[0] != row[1]:
        raise NotTheOwner(
            f"Connected as {row[1]}, but the tables belong to {row[0]}: migrate and "
            "setup_db_roles must connect as the owner (set DATABASE_OWNER_URL)."
        )


def setup(connection, app_settings: dict | None, *, create: bool = True) -> list[str]:
    """Guard the insert-only tables, and when an application role distinct from the owner is
    configured, create it (if asked and missing) and grant it its privileges. Returns what was
    done, for the command's report."""
    done = []
    # One transaction: a running application never sees its grants half revoked.
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        require_owner(cursor)
        guarded = guard_truncate(cursor)
        if guarded:
            done.append(f"TRUNCATE refused on {len(guarded)} insert-only tables")
        role = (app_settings or {}).get("USER")
        cursor.execute("SELECT current_user")
        if not role or role == cursor.fetchone()[0]:
            done.append("one role: no application role to grant")
            return done
        if create and create_app_role(cursor, role, app_settings.get("PASSWORD")):
            done.append(f"created role {role}")
        grant_app_role(cursor, role)
        done.append(f"granted {role} its privileges")
    return done
