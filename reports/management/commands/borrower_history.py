"""borrower_history --office CODE --citizen-id ID [--json]"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from borrowers.models import Household, Office
from reports.history import household_timeline, timeline_json
from reports.history_rendering import changes_text

HELP = """One household's history: every ledger entry of its loans, every recorded change of the
household, its loans, group memberships, previous citizen IDs and categories, and every approval
request with its outcome, oldest first.

The household is the office's one with this citizen ID (the active one first; a previous ID
finds it too).

With --json it prints one object:

  {"household": {"id", "office", "full_name", "citizen_id", "previous_citizen_ids",
                 "date_of_birth", "sex", "phone", "village", "commune", "group", "status"},
   "events": [{"at", "kind", "by", "approved_by", "value_date", "amount", "loan_number",
               "reference", "reverses", "changes"}, ...]}

Every event has all ten keys, null where they do not apply. "at" is when it was recorded (ISO
8601 with offset); "kind" is "entry.<ledger kind>" (entry.disbursement, entry.reversal, ...),
"<household|loan|membership|previous_id|category>.<created|changed|deleted>", or
"request.<submitted|approved|rejected|withdrawn>"; "by" is who entered or changed it ("system"
for a command or a task); "approved_by" is the second person of a four-eyes operation;
"value_date" is an ISO date; "amount" an integer of VND; "reverses" the id of the ledger entry a
reversal cancels; "changes" maps each changed field to [old, new] (foreign keys by name: group
code, village name, user name; {} for a ledger entry)."""


def _household(office: Office, citizen_id: str) -> Household:
    households = Household.objects.filter(office=office).select_related(
        "office", "village__commune", "group"
    )
    # The active household holding the number, else the latest that held it (now or before).
    household = (
        households.filter(citizen_id=citizen_id, status=Household.Status.ACTIVE).first()
        or households.filter(citizen_id=citizen_id).order_by("-id").first()
        or households.filter(previous_ids__number=citizen_id).order_by("-id").first()
    )
    if household is None:
        raise CommandError(f"office {office.code} has no household with citizen ID {citizen_id}")
    return household


class Command(BaseCommand):
    help = HELP

    def create_parser(self, *args, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(*args, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--office", required=True, help="office code")
        parser.add_argument("--citizen-id", dest="citizen_id", required=True, help="citizen ID")
        parser.add_argument("--json", action="store_true", help="print the history as JSON")

    def handle(self, *args, office, citizen_id, json: bool, **options):
        office_ = Office.objects.filter(code=office).first()
        if office_ is None:
            raise CommandError(f"no office {office}")
        citizen_id = citizen_id.strip()
        household = _household(office_, citizen_id)
        events = household_timeline(household)
        if json:
            self.stdout.write(_dumps(timeline_json(household, events)))
            return
        self.stdout.write(f"{household.full_name} ({household.citizen_id}), {office_.name}")
        for e in events:
            amount = f" {e.amount:,}".replace(",", ".") if e.amount is not None else ""
            loan = f" {e.loan_number}" if e.loan_number else ""
            detail = changes_text(e)
            self.stdout.write(
                f"{timezone.localtime(e.at):%d/%m/%Y %H:%M} {e.kind}{loan}{amount}"
                f" by {e.by or '-'}{f' approved by {e.approved_by}' if e.approved_by else ''}"
                f"{f' — {detail}' if detail else ''}"
            )


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
