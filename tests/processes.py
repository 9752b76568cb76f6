"""Real processes for the tests that need them: a Redis database and Celery workers on the test
database, and sending a task through that broker from the (eager) test process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def redis_database(url: str) -> str:
    """A flushed Redis database for the test; skip (fail in CI) when there is no server."""
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not running at {url}")
        pytest.skip(f"no Redis at {url}: start redis-server to run the worker tests")
    redis.Redis.from_url(url).flushdb()
    return url


def test_database_url(*, owner: bool = False) -> str:
    """The pytest database as a DATABASE_URL, for child processes (the data a transactional
    test commits is visible to them). They connect as the application role, as in production
    (the test process itself is the owner, which created the database)."""
    from urllib.parse import quote

    from django.conf import settings

    db = connection.settings_dict
    role = db if owner else settings.APP_DATABASE
    user = quote(role["USER"], safe="")
    if role.get("PASSWORD"):
        user += ":" + quote(role["PASSWORD"], safe="")
    if db["HOST"] and db["HOST"].startswith("/"):
        return f"postgres://{user}@/{db['NAME']}?host={db['HOST']}"
    return f"postgres://{user}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def _env(redis_url: str, extra_env: dict) -> dict:
    return {
        **os.environ,
        "DEVELOPMENT": "true",
        "REDIS_URL": redis_url,
        "DATABASE_URL": test_database_url(),
        "DATABASE_OWNER_URL": "",
        **{name: str(value) for name, value in extra_env.items()},
    }


def start_worker(redis_url: str, *, pool: str = "solo", **extra_env) -> subprocess.Popen:
    """A worker on the test database; `pool="prefork"` runs its tasks in one child process
    (`pool_processes` finds it), as production does."""
    concurrency = ["--concurrency=1"] if pool == "prefork" else []
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "branch_portal",
            "worker",
            f"--pool={pool}",
            *concurrency,
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=_env(redis_url, extra_env),
    )


def start_beat(redis_url: str, **extra_env) -> subprocess.Popen:
    """Celery beat with the database schedule (the rows setup_periodic_tasks wrote)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "branch_portal", "beat", "--loglevel=WARNING"],
        cwd=ROOT,
        env=_env(redis_url, extra_env),
    )


def pool_processes(parent: subprocess.Popen) -> list[int]:
    """The pids of a process's children (a prefork worker's pool), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[1]) == parent.pid:  # after "(comm)": state, ppid, …
            children.append(int(stat.parent.name))
    return children


def stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(20)


def send_task(task, args: list, broker_url: str) -> None:
    """Send through the worker's broker: the test process runs tasks eagerly and its app's
    cached producer pool may point at memory://."""
    from branch_portal.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with app.connection_for_write(broker_url) as connection_:
            task.apply_async(args=args, connection=connection_)
    finally:
        app.conf.task_always_eager = eager
