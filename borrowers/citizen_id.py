"""Vietnamese citizen identity numbers (CCCD, 12 digits; older CMND, 9 digits)."""

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# The 63 province codes of Decree 137/2015 (before the 2025 merger; IDs keep their code).
PROVINCE_CODES = frozenset(
    [
        "001",
        "002",
        "004",
        "006",
        "008",
        "010",
        "011",
        "012",
        "014",
        "015",
        "017",
        "019",
        "020",
        "022",
        "024",
        "025",
        "026",
        "027",
        "030",
        "031",
        "033",
        "034",
        "035",
        "036",
        "037",
        "038",
        "040",
        "042",
        "044",
        "045",
        "046",
        "048",
        "049",
        "051",
        "052",
        "054",
        "056",
        "058",
        "060",
        "062",
        "064",
        "066",
        "067",
        "068",
        "070",
        "072",
        "074",
        "075",
        "077",
        "079",
        "080",
        "082",
        "083",
        "084",
        "086",
        "087",
        "089",
        "091",
        "092",
        "093",
        "094",
        "095",
        "096",
    ]
)


def century_sex_digit(date_of_birth: dt.date, sex: str) -> int:
    """The 4th digit: (century - 20) * 2, plus 1 for a woman (0/1 1900s, 2/3 2000s, ...)."""
    century_index = date_of_birth.year // 100 - 19
    return century_index * 2 + (1 if sex == "F" else 0)


def validate_citizen_id(number: str, *, date_of_birth: dt.date | None, sex: str | None) -> None:
    """Raise ValidationError (Vietnamese/English through gettext) if the number is not valid."""
    # ASCII digits: isdigit() also takes full-width (１２３) and other scripts' digits.
    if not re.fullmatch(r"[0-9]{12}", number):
        raise ValidationError(_("A citizen ID has exactly 12 digits."), code="length")
    if number[:3] not in PROVINCE_CODES:
        raise ValidationError(
            _("%(code)s is not a province code.") % {"code": number[:3]}, code="province"
        )
    if date_of_birth is None or sex not in ("M", "F"):
        return
    if int(number[3]) != century_sex_digit(date_of_birth, sex):
        raise ValidationError(
            _("The 4th digit does not match the date of birth and sex."), code="century_sex"
        )
    if number[4:6] != f"{date_of_birth.year % 100:02d}":
        raise ValidationError(
            _("Digits 5–6 must be the last two digits of the year of birth."), code="birth_year"
        )
