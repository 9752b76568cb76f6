"""manage.py bench_api_receipts --office CODE --user NAME [--requests N] [--concurrency C]:
how many receipts a second one gunicorn worker holds through the API, and the latency of each
POST (p50, p95, max), on 127.0.0.1. The receipts stay held (in custody, not in the ledger) in
the group with the most loans; each has a new key, so every request does the whole work."""

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from api import services
from borrowers.models import SavingsGroup
from commune_day import custody

AMOUNT = 1_000  # đồng of interest per receipt: small, so the caps never refuse one


class Command(BaseCommand):
    help = "Requests per second and latency of POST /api/v1/groups/<id>/receipts/ (one worker)."

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True)
        parser.add_argument("--user", required=True)
        parser.add_argument("--requests", type=int, default=1000)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--port", type=int, default=8799)

    def handle(self, *args, office, user, requests, concurrency, port, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user named {user!r}.")
        group = (
            SavingsGroup.objects.filter(office__code=office)
            .annotate(n=Count("loans"))
            .order_by("-n", "pk")
            .first()
        )
        if group is None:
            raise CommandError(f"No group in office {office!r}.")
        sheet = custody.group_sheet(group).sheet
        held = custody.held_by_loan(group)
        room = {
            line.loan_number: line.interest_due - held.get(line.loan_id, {}).get("interest", 0)
            for line in sheet.lines
        }
        loans = [number for number, left in room.items() if left >= AMOUNT]
        while loans and min(room[n] for n in loans) < AMOUNT * -(-requests // len(loans)):
            loans.remove(min(loans, key=room.__getitem__))
        if not loans:
            raise CommandError(f"No loan of {group.code} has interest due for the receipts.")
        _row, token = services.token_create(
            user=account, name="bench", scope="collect", actor=account, group=group
        )
        url = f"http://127.0.0.1:{port}/api/v1/groups/{group.pk}/receipts/"
        env = {**os.environ, "API_RATE_LIMIT": "1000000/min"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "branch_portal.wsgi", "--bind",
             f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"],
            cwd=settings.BASE_DIR, env=env,
        )  # fmt: skip
        try:
            self._wait(url, token)
            per_loan = -(-requests // len(loans))
            self.stdout.write(
                f"{requests} receipts over {len(loans)} loans of {group.code} "
                f"(≤{per_loan} a loan), {concurrency} clients, one gunicorn worker"
            )
            bodies = [
                json.dumps(
                    {"loan_number": loans[n % len(loans)], "receipt": f"BENCH {n}",
                     "interest": AMOUNT}
                ).encode()
                for n in range(requests)
            ]  # fmt: skip
            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(lambda b: self._post(url, token, b), bodies))
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        latencies = sorted(seconds for _status, seconds in results)
        statuses: dict[int, int] = {}
        for status, _seconds in results:
            statuses[status] = statuses.get(status, 0) + 1
        p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
        self.stdout.write(f"answers: {dict(sorted(statuses.items()))}")
        self.stdout.write(
            f"receipts/s {requests / elapsed:.1f}  p50 {statistics.median(latencies) * 1000:.1f} ms"
            f"  p95 {p95 * 1000:.1f} ms  max {latencies[-1] * 1000:.1f} ms  ({elapsed:.1f} s)"
        )
        if statuses.get(201, 0) != requests:
            raise CommandError("not every receipt was held: see the answers above")

    def _wait(self, url, token):
        for _ in range(100):
            try:
                urllib.request.urlopen(
                    urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}),
                    timeout=5,
                )
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise CommandError("the server did not start")

    @staticmethod
    def _post(url, token, body) -> tuple[int, float]:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
        return status, time.perf_counter() - started
