"""The production shape of docker-compose.yml without Docker (issue 3, point 8).

There is no Docker engine on these machines, so this test reads docker-compose.yml and the
Dockerfile and runs what they declare as local processes against this machine's PostgreSQL (the
pytest database) and Redis (database 13): the Dockerfile's collectstatic step, then the migrate
service's command as the owner (migrate, which grants the application role, and
setup_periodic_tasks), then the web service's (gunicorn with whitenoise, bound to a free
127.0.0.1 port instead of 0.0.0.0:8000), the worker's and beat's as the application role, with
the compose environment
(production mode: no DEVELOPMENT, a secret key file, manifest static files). Over real HTTP it
logs in as a manager, requests a report through the manager's page (/reports/), watches its
progress until the worker has built it, downloads the PDF and the XLSX and checks that static
files are served.
"""

import contextlib
import datetime as dt
import http.cookiejar
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from reports.models import ReportRun

from .processes import redis_database, test_database_url

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/13"
START, AS_OF = dt.date(2021, 1, 1), dt.date(2021, 6, 15)
BOOTSTRAP = "vendor/bootstrap-5.3.8/css/bootstrap.min.css"

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def collectstatic_step() -> str:
    """The Dockerfile's collectstatic command (with its inline environment)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("RUN") and "collectstatic" in line:
            return next(part for part in line[3:].split("&&") if "collectstatic" in part).strip()
    raise AssertionError("the Dockerfile does not run collectstatic")


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects (so they can be checked)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), self._NoRedirect
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, dict, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.cookies if c.name == name)


@pytest.fixture
def services(tmp_path, manager_a):
    """Start web, worker and beat with the compose file's command lines; stop them after."""
    declared = compose()
    assert {"db", "redis", "migrate", "web", "worker", "beat"} <= set(declared["services"])
    redis_database(REDIS_URL)
    port = free_port()
    secret = tmp_path / "secret_key"
    secret.write_text("compose-test-" + "x" * 50)
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in (
            "DEVELOPMENT",
            "DEBUG",
            "SECRET_KEY",
            "REDIS_URL",
            "DATABASE_URL",
            "DATABASE_OWNER_URL",
        )
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    logs = {}
    processes: dict[str, subprocess.Popen] = {}

    def service_env(name: str) -> dict:
        service = declared["services"][name]
        declared_env = dict(service.get("environment") or {})
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE"} <= set(declared_env), name
        # The compose values point at the db/redis containers: this machine's servers instead.
        # Only the migrate service knows the owner (two roles, docs/decisions/0008).
        assert ("DATABASE_OWNER_URL" in declared_env) == (name == "migrate"), name
        overrides = {
            "DATABASE_URL": test_database_url(),
            **({"DATABASE_OWNER_URL": test_database_url(owner=True)} if name == "migrate" else {}),
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY_FILE": str(secret),
            "ALLOWED_HOSTS": "127.0.0.1",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "SECURE_COOKIES": "false",  # plain HTTP here; behind TLS in production
        }
        return {**env, **{k: str(v) for k, v in declared_env.items()}, **overrides}

    # The image's build step: static files collected into STATIC_ROOT, as production serves them.
    build = subprocess.run(
        ["sh", "-c", collectstatic_step()],
        cwd=ROOT,
        env=service_env("web"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr

    # The one-shot migrate service runs to completion before the others start.
    migrate = subprocess.run(
        shlex.split(declared["services"]["migrate"]["command"]),
        cwd=ROOT,
        env=service_env("migrate"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    try:
        for name in ("web", "worker", "beat"):
            command = declared["services"][name]["command"]
            if name == "web":
                assert "0.0.0.0:8000" in command
                command = command.replace("0.0.0.0:8000", f"127.0.0.1:{port}")
            argv = shlex.split(command) if isinstance(command, str) else list(command)
            logs[name] = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
            processes[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=service_env(name),
                stdout=logs[name],
                stderr=subprocess.STDOUT,
                start_new_session=True,  # sh, gunicorn's and celery's children: one group each
            )

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 45
        while True:
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited:\n{_tail(tmp_path / f'{name}.log')}"
            try:
                urllib.request.urlopen(base + "/accounts/login/", timeout=2).close()
                break
            except urllib.error.HTTPError as error:
                raise AssertionError(
                    f"login page: HTTP {error.code}\n{_tail(tmp_path / 'web.log')}"
                ) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"web did not start:\n{_tail(tmp_path / 'web.log')}"
                    ) from None
                time.sleep(0.3)
        yield {"base": base, "processes": processes, "logs": tmp_path}
    finally:
        for process in processes.values():
            _signal_group(process, signal.SIGTERM)  # the whole group: gunicorn/celery children too
        for name, process in processes.items():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(5)
            logs[name].close()
        redis_database(REDIS_URL)
        _wait_for_sessions_to_end()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # start_new_session: group id = leader's pid
        os.killpg(process.pid, signum)


def _wait_for_sessions_to_end(timeout: float = 15) -> None:
    """The killed processes' database sessions end a moment after them; the test database is
    dropped at the end of the run only if none is left."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if not cursor.fetchone()[0]:
                return
            time.sleep(0.2)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def csrf_token(page: bytes) -> str:
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()


def login(browser: Browser, username: str) -> None:
    status, _headers, body = browser.request("/accounts/login/")
    assert status == 200
    token = csrf_token(body)
    status, headers, _body = browser.request(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": username, "password": "demo1234", "next": ""},
    )
    assert status == 302, _body[:2000]
    assert browser.cookie("sessionid")


def test_compose_services_serve_a_report(services, active_loan, manager_a):
    base, logs = services["base"], services["logs"]
    browser = Browser(base)
    login(browser, manager_a.username)
    status, _headers, home = browser.request("/")
    assert status == 200, home[:3000]

    # Static files through whitenoise: the plain name, and the hashed name the pages link to.
    status, headers, css = browser.request(f"/static/{BOOTSTRAP}")
    assert status == 200 and b"Bootstrap" in css[:500]
    linked = re.search(rb'href="(/static/vendor/bootstrap-5\.3\.8/css/[^"]+\.css)"', home)
    assert linked, "the home page links no bootstrap stylesheet"
    status, headers, _css = browser.request(linked.group(1).decode())
    assert status == 200
    if linked.group(1).decode() != f"/static/{BOOTSTRAP}":  # manifest: cached for ever
        assert "max-age=315360000" in headers.get("Cache-Control", "")

    # The manager's page: its form, posted as the browser posts it; the web process queues the
    # task on the broker, the worker process builds the run.
    office = active_loan.office
    status, _headers, page = browser.request(f"/reports/?office={office.pk}")
    assert status == 200, page[:2000]
    token = csrf_token(page)
    status, headers, body = browser.request(
        "/reports/request/",
        {
            "csrfmiddlewaretoken": token,
            "office": office.pk,
            "period": "custom",
            "start": START.isoformat(),
            "as_of": AS_OF.isoformat(),
        },
    )
    assert status == 302, body[:3000]
    detail = re.fullmatch(r"/reports/(\d+)/", urllib.parse.urlsplit(headers["Location"]).path)
    assert detail, headers["Location"]
    run_id = int(detail.group(1))
    run = ReportRun.objects.get(pk=run_id)
    assert run.requested_by == manager_a and (run.start, run.as_of) == (START, AS_OF)

    # Watched as the page watches it: its progress partial, until the download links appear.
    pdf_link = f"/reports/{run_id}/pdf/"
    deadline = time.monotonic() + 60
    while True:
        status, _headers, progress = browser.request(f"/reports/{run_id}/progress/")
        assert status == 200, progress[:2000]
        if pdf_link.encode() in progress or b"bg-danger" in progress:
            break
        assert time.monotonic() < deadline, (progress[:2000], _tail(logs / "worker.log"))
        time.sleep(0.3)
    run.refresh_from_db()
    assert run.status == ReportRun.Status.DONE, (run.error, _tail(logs / "worker.log"))
    assert run.figures["totals"]["closing"] == 50_000_000

    status, headers, pdf = browser.request(pdf_link)
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert pdf.startswith(b"%PDF") and pdf == bytes(run.pdf)
    status, headers, xlsx = browser.request(f"/reports/{run_id}/xlsx/")
    assert status == 200 and xlsx.startswith(b"PK")

    # Beat runs with the database scheduler that setup_periodic_tasks filled.
    assert services["processes"]["beat"].poll() is None
    assert "beat: Starting" in (logs / "beat.log").read_text(errors="replace")
