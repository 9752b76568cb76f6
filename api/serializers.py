"""What the API shows of each record. Money is whole đồng, as integers (never a float)."""

from rest_framework import serializers

from borrowers.models import Household, SavingsGroup
from commune_day.models import HeldReceipt
from loans.models import Loan, LoanTransaction
from loans.money import MAX_AMOUNT
from reports.models import ReportRun

from .models import ApiToken


class HouseholdSerializer(serializers.ModelSerializer):
    office = serializers.CharField(source="office.code", read_only=True)
    village = serializers.CharField(source="village.code", read_only=True)
    commune = serializers.CharField(source="village.commune.code", read_only=True)
    group = serializers.CharField(source="group.code", read_only=True, allow_null=True)

    class Meta:
        model = Household
        fields = [
            "id", "office", "commune", "village", "group", "full_name", "citizen_id",
            "date_of_birth", "sex", "phone", "status",
        ]  # fmt: skip


class LoanSerializer(serializers.ModelSerializer):
    office = serializers.CharField(source="office.code", read_only=True)
    programme = serializers.CharField(source="programme.code", read_only=True)
    group = serializers.CharField(source="group.code", read_only=True, allow_null=True)

    class Meta:
        model = Loan
        fields = [
            "id", "office", "number", "household", "programme", "group", "status",
            "approved_amount", "term_months", "applied_on", "approved_on", "first_disbursed_on",
            "disbursed", "outstanding", "overdue", "frozen",
        ]  # fmt: skip


class EntrySerializer(serializers.ModelSerializer):
    office = serializers.CharField(source="office.code", read_only=True)
    loan_number = serializers.CharField(source="loan.number", read_only=True)

    class Meta:
        model = LoanTransaction
        fields = [
            "id", "office", "loan", "loan_number", "kind", "counted_kind", "value_date",
            "amount", "d_outstanding", "d_overdue", "d_frozen", "reverses", "reference",
            "posted_at",
        ]  # fmt: skip


class ReportRunSerializer(serializers.ModelSerializer):
    office = serializers.CharField(source="office.code", read_only=True)
    has_pdf = serializers.SerializerMethodField()
    has_xlsx = serializers.SerializerMethodField()

    class Meta:
        model = ReportRun
        fields = [
            "id", "office", "kind", "start", "as_of", "status", "progress", "requested_at",
            "finished_at", "ledger_position", "pdf_pages", "has_pdf", "has_xlsx",
        ]  # fmt: skip

    def get_has_pdf(self, run) -> bool:
        return bool(run.has_pdf)

    def get_has_xlsx(self, run) -> bool:
        return bool(run.has_xlsx)


class TokenSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "user", "name", "scope", "prefix", "created_at", "last_used_at"]


# --- the group head's phone ----------------------------------------------------------------------


# A text with no control character (NUL cannot even reach PostgreSQL), not blank: the schema says
# so, and a value breaking it is a 400.
PRINTABLE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


class StrictAmountField(serializers.IntegerField):
    """Whole đồng as a JSON integer: "5000", 5000.0 and true are refused, not read as 5000."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def _amount_field():
    return StrictAmountField(min_value=0, max_value=MAX_AMOUNT, default=0)


class GroupSerializer(serializers.ModelSerializer):
    office = serializers.CharField(source="office.code", read_only=True)
    village = serializers.CharField(source="village.code", read_only=True)
    commune = serializers.CharField(source="village.commune.code", read_only=True)
    organisation = serializers.CharField(source="chapter.organisation.code", read_only=True)

    class Meta:
        model = SavingsGroup
        fields = ["id", "office", "code", "name", "head_name", "commune", "village", "organisation"]


class MemberLoanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    programme = serializers.CharField()
    status = serializers.CharField()
    outstanding = serializers.IntegerField()
    overdue = serializers.IntegerField()


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    citizen_id = serializers.CharField()
    full_name = serializers.CharField()
    loans = MemberLoanSerializer(many=True)
    savings_balance = serializers.IntegerField()


class HeldSerializer(serializers.Serializer):
    interest = serializers.IntegerField()
    principal = serializers.IntegerField()
    savings = serializers.IntegerField()


class SheetLineSerializer(serializers.Serializer):
    household_id = serializers.IntegerField()
    citizen_id = serializers.CharField()
    name = serializers.CharField()
    loan_id = serializers.IntegerField()
    loan_number = serializers.CharField()
    programme = serializers.CharField()
    outstanding = serializers.IntegerField()
    interest_due = serializers.IntegerField()
    principal_due = serializers.IntegerField()
    overdue = serializers.IntegerField()
    savings_balance = serializers.IntegerField()
    held = HeldSerializer()


class SheetSerializer(serializers.Serializer):
    group = serializers.CharField()
    date = serializers.DateField()
    version = serializers.CharField()
    lines = SheetLineSerializer(many=True)
    totals = serializers.DictField(child=serializers.IntegerField())
    held = HeldSerializer()


class ReceiptInSerializer(serializers.Serializer):
    """A member's payment as the phone records it."""

    loan_number = serializers.RegexField(PRINTABLE, max_length=40)
    receipt = serializers.RegexField(
        PRINTABLE, max_length=50, help_text="The 01/BL receipt number."
    )
    interest = _amount_field()
    principal = _amount_field()
    savings = _amount_field()
    paid_on = serializers.DateField(required=False, help_text="Default: today.")
    sheet_version = serializers.RegexField(
        PRINTABLE,
        max_length=64,
        required=False,
        help_text="The version of the sheet the phone shows.",
    )


class BatchReceiptInSerializer(ReceiptInSerializer):
    idempotency_key = serializers.RegexField(r"^[\x21-\x7e]{1,100}$", max_length=100)


class BatchInSerializer(serializers.Serializer):
    sheet_version = serializers.RegexField(PRINTABLE, max_length=64, required=False)
    receipts = BatchReceiptInSerializer(many=True, max_length=500)


class HeldReceiptSerializer(serializers.ModelSerializer):
    loan_number = serializers.CharField(source="loan.number", read_only=True)
    group = serializers.CharField(source="group.code", read_only=True)

    class Meta:
        model = HeldReceipt
        fields = [
            "id", "group", "idempotency_key", "loan_number", "receipt", "interest", "principal",
            "savings", "paid_on", "sheet_date", "status", "recorded_at",
        ]  # fmt: skip


class BatchResultSerializer(serializers.Serializer):
    idempotency_key = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["created", "replayed", "refused", "conflict", "stale"]
    )
    receipt = HeldReceiptSerializer(required=False)
    errors = serializers.DictField(child=serializers.CharField(), required=False)
    version = serializers.CharField(required=False)


class BatchOutSerializer(serializers.Serializer):
    sheet_version = serializers.CharField()
    results = BatchResultSerializer(many=True)


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["refused", "key_reused", "sheet_changed"])
    errors = serializers.DictField(child=serializers.CharField(), required=False)
    receipt = HeldReceiptSerializer(required=False)
    sheet = SheetSerializer(required=False)


class OutboxEntrySerializer(serializers.Serializer):
    """One entry of either ledger, as the core bank books it: `source` says which; the loan
    fields are null for a savings entry and `d_balance` for a loan entry."""

    position = serializers.IntegerField()
    source = serializers.ChoiceField(choices=["loan", "savings"])
    id = serializers.IntegerField()
    office = serializers.CharField()
    kind = serializers.CharField()
    value_date = serializers.DateField()
    amount = serializers.IntegerField()
    citizen_id = serializers.CharField()
    loan_number = serializers.CharField(allow_null=True)
    programme = serializers.CharField(allow_null=True)
    counted_kind = serializers.CharField(allow_null=True)
    d_outstanding = serializers.IntegerField(allow_null=True)
    d_overdue = serializers.IntegerField(allow_null=True)
    d_frozen = serializers.IntegerField(allow_null=True)
    reverses = serializers.IntegerField(allow_null=True)
    d_balance = serializers.IntegerField(allow_null=True)
    loan_entry = serializers.IntegerField(
        allow_null=True, help_text="For savings used to pay a loan: the loan entry it paid."
    )
    reference = serializers.CharField(allow_blank=True)
    posted_at = serializers.DateTimeField()


class OutboxPageSerializer(serializers.Serializer):
    after = serializers.IntegerField()
    last_position = serializers.IntegerField(
        help_text="The position to ask after next; equal to `after` when nothing is new."
    )
    more = serializers.BooleanField(help_text="Whether entries beyond this page are there now.")
    entries = OutboxEntrySerializer(many=True)


class StatementEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    value_date = serializers.DateField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    amount = serializers.IntegerField()
    reference = serializers.CharField(allow_blank=True)
    reverses_id = serializers.IntegerField(allow_null=True)
    reversed = serializers.BooleanField()
    outstanding = serializers.IntegerField(help_text="The balance right after this entry.")
    overdue = serializers.IntegerField()
    frozen = serializers.IntegerField()
    interest_paid = serializers.IntegerField()


class StatementInstalmentSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    due_date = serializers.DateField()
    extended_to = serializers.DateField(allow_null=True)
    principal = serializers.IntegerField()
    paid = serializers.IntegerField()
    remaining = serializers.IntegerField()
    status = serializers.CharField()
    status_label = serializers.CharField()


class StatementTotalsSerializer(serializers.Serializer):
    disbursed = serializers.IntegerField()
    repaid = serializers.IntegerField()
    written_off = serializers.IntegerField()
    outstanding = serializers.IntegerField()
    overdue = serializers.IntegerField()
    frozen = serializers.IntegerField()
    in_term = serializers.IntegerField()
    interest_paid = serializers.IntegerField()
    interest_due = serializers.IntegerField()
    interest_prepaid = serializers.IntegerField()
    interest_written_off = serializers.IntegerField()


class StatementLoanSerializer(serializers.Serializer):
    number = serializers.CharField()
    programme = serializers.CharField()
    approved_amount = serializers.IntegerField()
    term_months = serializers.IntegerField()
    monthly_rate = serializers.DecimalField(
        max_digits=6, decimal_places=4, allow_null=True, help_text="% a month"
    )
    group = serializers.CharField(allow_blank=True)
    disbursed_on = serializers.DateField(allow_null=True)
    maturity_date = serializers.DateField(allow_null=True)
    status_label = serializers.CharField()
    interest_paid_through = serializers.DateField(allow_null=True)
    totals = StatementTotalsSerializer()
    entries = StatementEntrySerializer(many=True)
    schedule = StatementInstalmentSerializer(many=True)


class StatementSavingsEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    value_date = serializers.DateField()
    kind = serializers.CharField()
    amount = serializers.IntegerField()
    d_balance = serializers.IntegerField()
    balance = serializers.IntegerField(help_text="The balance right after this entry.")
    reference = serializers.CharField(allow_blank=True)


class StatementSavingsSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    entries = StatementSavingsEntrySerializer(many=True)


class StatementSerializer(serializers.Serializer):
    """The borrower's statement (the page's, reports.statement) with their savings beside it."""

    office = serializers.CharField()
    citizen_id = serializers.CharField()
    full_name = serializers.CharField()
    as_of = serializers.DateField()
    totals = StatementTotalsSerializer()
    loans = StatementLoanSerializer(many=True)
    savings = StatementSavingsSerializer(allow_null=True, help_text="None: never saved.")


class JournalQuerySerializer(serializers.Serializer):
    office = serializers.RegexField(PRINTABLE, max_length=20, help_text="The office's code.")
    date = serializers.DateField(help_text="The value date (YYYY-MM-DD), at most the office's "
                                 "business date.")  # fmt: skip


class JournalLineSerializer(serializers.Serializer):
    account = serializers.CharField()
    account_name = serializers.CharField()
    programme = serializers.CharField(allow_blank=True, help_text="Empty for savings.")
    fund_source = serializers.CharField(allow_blank=True, help_text="Empty for savings.")
    debit = serializers.IntegerField()
    credit = serializers.IntegerField()


class JournalSerializer(serializers.Serializer):
    office = serializers.CharField(source="office.code")
    date = serializers.DateField(source="day")
    entries = serializers.IntegerField(help_text="How many ledger and savings entries it books.")
    debits = serializers.IntegerField()
    credits = serializers.IntegerField(help_text="Always equal to `debits`.")
    lines = JournalLineSerializer(many=True)
