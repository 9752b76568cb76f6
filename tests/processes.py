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


def test_database_url() -> str:
    """The pytest database as a DATABASE_URL, for child processes (the data a transactional
    test commits is visible to them)."""
    db = connection.settings_dict
    if db["HOST"] and db["HOST"].startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}"
    return f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def start_worker(redis_url: str, **extra_env) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEVELOPMENT": "true",
        "REDIS_URL": redis_url,
        "DATABASE_URL": test_database_url(),
        **{name: str(value) for name, value in extra_env.items()},
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "branch_portal",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
    )


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
