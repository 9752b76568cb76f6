"""Project-wide promises: migrations match the models, settings refuse unsafe production."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def test_no_pending_migrations(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 50, "DEBUG": "true"}, "DEBUG=true is refused"),
        ({"SECRET_KEY": "x" * 50, "DEBUG": "yes"}, "must be 'true' or 'false'"),
    ],
)
def test_production_settings_refuse_to_start_unsafely(env, message):
    clean = {k: v for k, v in os.environ.items() if k not in ("DEVELOPMENT", "DEBUG")}
    clean.update(env, DATABASE_URL="postgres://nobody@127.0.0.1/none")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; "
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'branch_portal.settings'); "
            "django.setup()",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_production_cookies_are_secure():
    clean = {k: v for k, v in os.environ.items() if k not in ("DEVELOPMENT", "DEBUG")}
    clean.update(SECRET_KEY="x" * 50, DATABASE_URL="postgres://nobody@127.0.0.1/none")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; "
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'branch_portal.settings'); "
            "django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.DEBUG)",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "True", "False"]


def test_vietnamese_unless_the_user_picks_english(client, staff_a):
    """An English browser still gets Vietnamese; the VI/EN switch changes it."""
    client.force_login(staff_a)
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "Đăng xuất" in html and ">Log out<" not in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    assert ">Log out<" in html
