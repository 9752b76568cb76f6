"""Project-wide promises: migrations match the models, settings refuse unsafe production."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.core.management import call_command
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from branch_portal import env as env_module

ROOT = Path(__file__).resolve().parent.parent


def test_no_pending_migrations(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


# Fixed, not secrets.token_urlsafe(): pytest-xdist's workers must collect the same test ids.
STRONG_KEY = "Tq8v0yR-3mZ_pW2sLx9cN4bH7eJ1fK6gD5aU0oI8rE2tY3wQ9zVn"
# Every variable the settings read: a test's environment starts without any of them.
SETTINGS_VARIABLES = {
    line.split("=", 1)[0]
    for line in (ROOT / ".env.example").read_text().splitlines()
    if line and not line.startswith("#")
} | {"SECRET_KEY_FILE", "DJANGO_ALLOW_ASYNC_UNSAFE"}  # the last: set by tests/browser/conftest.py


def production(env: dict, code: str = "") -> subprocess.CompletedProcess:
    """Set up Django in a child process with production settings and env; run code there."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    clean.update({"DATABASE_URL": "postgres://nobody@127.0.0.1/none", **env})
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; "
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'branch_portal.settings'); "
            "django.setup(); from django.conf import settings as s\n" + code,
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY (or SECRET_KEY_FILE) must be set"),
        ({"SECRET_KEY": STRONG_KEY, "DEBUG": "true"}, "DEBUG=true is refused"),
        ({"SECRET_KEY": STRONG_KEY, "DEBUG": "yes"}, "must be 'true' or 'false'"),
        (
            {"SECRET_KEY": STRONG_KEY, "SECURE_SSL_REDIRECT": "on"},
            "SECURE_SSL_REDIRECT must be 'true' or 'false'",
        ),
        (
            {"SECRET_KEY": STRONG_KEY, "SECURE_HSTS_SECONDS": "-1"},
            "SECURE_HSTS_SECONDS must not be negative",
        ),
    ],
)
def test_production_settings_refuse_to_start_unsafely(env, message):
    result = production(env)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("changeme", "is a well-known placeholder"),
        ("secret", "is a well-known placeholder"),
        ("Change-Me", "is a well-known placeholder"),
        ("development-only-not-secret", "is a well-known placeholder"),
        (env_module.EXAMPLE_SECRET_KEY, "is a well-known placeholder"),
        ("django-insecure-" + STRONG_KEY, "is a Django development key"),
        ("changeme-" * 8, "contains a placeholder word"),
        ("x" * 64, "has fewer than 5 different characters"),
        ("abcd" * 20, "has fewer than 5 different characters"),
        (STRONG_KEY[:49], "is too short (49 characters; at least 50)"),
    ],
    ids=lambda value: value[:20],
)
def test_production_refuses_a_weak_secret_key(key, reason):
    result = production({"SECRET_KEY": key})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: SECRET_KEY {reason}" in result.stderr
    assert "refused in production. Generate one with: python -c" in result.stderr


def test_production_refuses_a_weak_key_from_the_key_file_too(tmp_path):
    (tmp_path / "key").write_text("changeme\n")
    result = production({"SECRET_KEY_FILE": str(tmp_path / "key")})
    assert "SECRET_KEY is a well-known placeholder: refused in production." in result.stderr


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: None, "No such file or directory"),
        (lambda path: path.mkdir(), "Is a directory"),
        (lambda path: path.write_bytes(b"\xff\xfe\x00key"), "is not a text file"),
    ],
    ids=["missing", "directory", "binary"],
)
def test_an_unreadable_key_file_is_named_without_a_file_error_traceback(tmp_path, make, reason):
    path = tmp_path / "secret_key"
    make(path)
    result = production({"SECRET_KEY_FILE": str(path)})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: SECRET_KEY_FILE={str(path)!r}" in result.stderr
    assert reason in result.stderr.splitlines()[-1]
    assert "FileNotFoundError" not in result.stderr and "IsADirectoryError" not in result.stderr


def test_development_keeps_its_own_key():
    result = production({"DEVELOPMENT": "true", "SECRET_KEY": "changeme"}, "print(s.SECRET_KEY)")
    assert result.stdout.split() == ["changeme"], result.stderr
    result = production({"DEVELOPMENT": "true"}, "print(s.SECRET_KEY)")
    assert result.stdout.split() == ["development-only-not-secret"], result.stderr


def test_a_strong_key_file_is_read(tmp_path):
    (tmp_path / "key").write_text(STRONG_KEY + "\n")
    result = production({"SECRET_KEY_FILE": str(tmp_path / "key")}, "print(s.SECRET_KEY)")
    assert result.stdout.split() == [STRONG_KEY], result.stderr


def test_production_cookies_are_secure():
    result = production(
        {"SECRET_KEY": STRONG_KEY},
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.DEBUG)",
    )
    assert result.stdout.split() == ["True", "True", "False"], result.stderr


SECURITY = (
    "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
    " s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER)"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "True 31536000 True True ('HTTP_X_FORWARDED_PROTO', 'https')"),
        ({"SECURE_COOKIES": "false"}, "False 0 False False None"),
        (
            {"SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "3600"},
            "False 3600 True True ('HTTP_X_FORWARDED_PROTO', 'https')",
        ),
        (
            {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "false", "SECURE_HSTS_PRELOAD": "false"},
            "True 31536000 False False ('HTTP_X_FORWARDED_PROTO', 'https')",
        ),
        ({"DEVELOPMENT": "true"}, "False 0 False False None"),
    ],
    ids=["production", "plain-http", "no-redirect", "no-subdomains", "development"],
)
def test_https_redirect_and_hsts_are_on_behind_https(env, expected):
    result = production({"SECRET_KEY": STRONG_KEY, **env}, SECURITY)
    assert result.stdout.strip() == expected, result.stderr


def test_production_redirects_plain_http_and_sends_hsts_over_https():
    """Through the real SecurityMiddleware with the production settings."""
    code = (
        "from django.http import HttpResponse\n"
        "from django.middleware.security import SecurityMiddleware\n"
        "from django.test import RequestFactory\n"
        "view = SecurityMiddleware(lambda request: HttpResponse('ok'))\n"
        "plain = view(RequestFactory().get('/loans/'))\n"
        "tls = view(RequestFactory().get('/loans/', headers={'x-forwarded-proto': 'https'}))\n"
        "print(plain.status_code, plain['Location'])\n"
        "print(tls.status_code, tls['Strict-Transport-Security'])\n"
    )
    result = production({"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "testserver"}, code)
    assert result.stdout.splitlines() == [
        "301 https://testserver/loans/",
        "200 max-age=31536000; includeSubDomains; preload",
    ], result.stderr


def test_check_deploy_is_clean_with_the_example_settings():
    """`manage.py check --deploy` with .env.example's values (and a strong key) warns of nothing."""
    example = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            if value:
                example[name] = value
    assert example["SECRET_KEY"] == env_module.EXAMPLE_SECRET_KEY  # refused as it stands
    assert production(example).returncode != 0
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    clean.update(example, SECRET_KEY=STRONG_KEY)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_vietnamese_unless_the_user_picks_english(client, staff_a):
    """An English browser still gets Vietnamese; the VI/EN switch changes it."""
    client.force_login(staff_a)
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "Đăng xuất" in html and ">Log out<" not in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    assert ">Log out<" in html


def _pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file, each pin followed by its --hash lines."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for raw in lock.read_text().splitlines():
        line = raw.strip().rstrip("\\").strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash=sha256:"):
            pins[name][1].append(line.removeprefix("--hash=sha256:"))
            continue
        requirement = Requirement(line)
        assert len(requirement.specifier) == 1, f"{lock.name}: {raw!r} is not one pin"
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{lock.name}: {raw!r} is not one pin"
        name = canonicalize_name(requirement.name)
        pins[name] = (spec.version, [])
    return pins


def _declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return (
        [Requirement(r) for r in project["dependencies"]],
        [Requirement(r) for r in project["optional-dependencies"]["dev"]],
    )


def test_the_lock_pins_every_declared_dependency_with_hashes():
    """make installs requirements/dev.lock: every package pyproject.toml declares, dev tools too,
    pinned to a version it allows, and every pin (transitive ones too) hash-checked."""
    runtime, dev = _declared()
    for lock, declared in [("dev.lock", runtime + dev), ("prod.lock", runtime)]:
        path = ROOT / "requirements" / lock
        pins = _pins(path)
        for requirement in declared:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{lock} lacks {requirement}: run `make lock`"
            assert requirement.specifier.contains(pins[name][0], prereleases=True), (
                f"{lock} pins {name}=={pins[name][0]}, pyproject.toml wants {requirement}"
            )
        assert all(len(hashes) >= 1 for _version, hashes in pins.values()), lock
        text = path.read_text()
        # Nothing of this machine's pip configuration (local indexes, wheel folders) leaks in.
        for option in ("--index-url", "--extra-index-url", "--find-links", "file:", "-e "):
            assert option not in text, f"{lock} names {option}"
    assert "django-csp" in _pins(ROOT / "requirements" / "prod.lock")


def test_the_production_lock_is_the_dev_lock_without_the_dev_tools():
    dev, prod = _pins(ROOT / "requirements/dev.lock"), _pins(ROOT / "requirements/prod.lock")
    assert {name: pin[0] for name, pin in prod.items()} == {name: dev[name][0] for name in prod}, (
        "the two locks disagree: run `make lock`"
    )
    _runtime, dev_tools = _declared()
    assert not {canonicalize_name(r.name) for r in dev_tools} & set(prod)


def test_make_installs_from_the_lock_and_again_when_it_changes(tmp_path):
    """The install step's stamp depends on the lock file: a newer lock reinstalls from it."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    stamp = venv / ".installed"
    stamp.touch()
    lock_time = (ROOT / "requirements" / "dev.lock").stat().st_mtime

    def dry_run() -> str:
        return subprocess.run(
            ["make", "--dry-run", "install", f"VENV={venv}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    os.utime(stamp, (lock_time + 60, lock_time + 60))
    assert "pip install" not in dry_run()
    os.utime(stamp, (lock_time - 60, lock_time - 60))
    assert f"{venv}/bin/pip install --quiet --require-hashes -r requirements/dev.lock" in dry_run()

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements/prod.lock" in dockerfile


# Served pages only: the PDFs' templates (an app's pdf/ folder: the report pack, the collection
# sheets) are laid out by WeasyPrint, never by a browser.
SERVED_TEMPLATES = [
    path
    for path in sorted([*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")])
    if "/pdf/" not in path.relative_to(ROOT).as_posix()
]
INLINE_CODE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("template", SERVED_TEMPLATES, ids=lambda path: path.name)
def test_templates_carry_no_inline_script_or_style(template):
    """The Content-Security-Policy refuses them: behaviour lives in static/js, looks in
    static/css (tests/browser/test_csp.py proves the pages work so)."""
    text = template.read_text()
    found = [
        (what, match.group(0)) for pattern, what in INLINE_CODE for match in pattern.finditer(text)
    ]
    assert not found, f"{template.relative_to(ROOT)}: {found}"


def test_python_code_adds_no_inline_handler_to_widgets():
    pattern = re.compile(
        r"""attrs\[["'](on[a-z]+|style)["']\]|["'](on[a-z]+|style)["']\s*:\s*["']"""
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in ("branch_portal", "borrowers", "loans", "reports")
        for path in (ROOT / app).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders


def test_every_page_is_served_with_the_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"  # Bootstrap's icons: data: SVGs in its CSS
    assert policy["object-src"] == policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == policy["base-uri"] == "'self'"


def test_every_transactional_test_rolls_back_serialized():
    """A transactional test that flushes without serialized_rollback re-creates the content
    types on its way out (post_migrate), and the next serialized test then fails restoring them
    (duplicate key), depending on which tests xdist gave the same worker."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "django_db(transaction=True" in line and "serialized_rollback=True" not in line
    ]
    assert offenders == []


@pytest.mark.parametrize(("args", "port"), [([], "8000"), (["PORT=8001"], "8001")])
def test_make_run_serves_on_the_port_it_is_given(args, port):
    """`make run PORT=8001` serves beside another server, and the address it prints is that one."""
    dry_run = subprocess.run(
        ["make", "--dry-run", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert f"Branch Portal: http://127.0.0.1:{port}/" in dry_run
    assert f"manage.py runserver 127.0.0.1:{port}\n" in dry_run
