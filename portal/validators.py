"""Check digits and formats of Swedish identifiers (organisationsnummer, GLN, HSA-id, bankgiro, plusgiro,
personnummer) and FDI tooth numbers.

Each `normalize_*` function takes what a person typed, returns the canonical stored form, or raises
`ValidationError` with a Swedish message. `validate_*` wraps it for model and form fields, and
`format_*` gives the form shown on screen, `mask_*` the form kept in logs.
"""

import datetime
import re

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


def luhn_checksum_ok(digits: str) -> bool:
    """True when the Luhn (mod 10) check over all of `digits`, check digit last, holds."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The digit that, appended to `payload`, makes the Luhn check hold."""
    for candidate in "0123456789":
        if luhn_checksum_ok(payload + candidate):
            return candidate
    raise AssertionError("unreachable: one of ten digits always completes a Luhn sum")


def _digits_only(value: str, allowed_separators: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(_("Ange ett värde."), code="required")
    if re.search(rf"[^0-9{re.escape(allowed_separators)}]", value):
        raise ValidationError(_("Får bara innehålla siffror."), code="invalid_characters")
    return re.sub(r"\D", "", value)


# Organisationsnummer ---------------------------------------------------------------------------


def normalize_organisation_number(value: str) -> str:
    """NNNNNN-NNNN → 10 digits; the third and fourth digits are at least 20 (never a birth month)."""
    digits = _digits_only(value, "- ")
    if len(digits) == 12 and digits.startswith("16"):  # the optional century-like prefix "16"
        digits = digits[2:]
    if len(digits) != 10:
        raise ValidationError(_("Organisationsnumret ska ha tio siffror."), code="length")
    if int(digits[2:4]) < 20:
        raise ValidationError(
            _("Organisationsnumret är ogiltigt: tredje och fjärde siffran ska vara minst 20."),
            code="month_digits",
        )
    if not luhn_checksum_ok(digits):
        raise ValidationError(_("Organisationsnumret har fel kontrollsiffra."), code="check_digit")
    return digits


def format_organisation_number(digits: str) -> str:
    return f"{digits[:6]}-{digits[6:]}"


# GLN (GS1 Global Location Number) -------------------------------------------------------------


def gs1_check_digit(payload: str) -> str:
    """GS1 mod 10: weights 3, 1, 3, … counted from the right of the payload."""
    total = sum(int(char) * (3 if i % 2 == 0 else 1) for i, char in enumerate(reversed(payload)))
    return str((10 - total % 10) % 10)


def normalize_gln(value: str) -> str:
    digits = _digits_only(value, " ")
    if len(digits) != 13:
        raise ValidationError(_("GLN ska ha 13 siffror."), code="length")
    if gs1_check_digit(digits[:-1]) != digits[-1]:
        raise ValidationError(_("GLN har fel kontrollsiffra."), code="check_digit")
    return digits


# HSA-id -----------------------------------------------------------------------------------------

# ASCII only, spelled out: `str.upper()` and `re.IGNORECASE` would let "ſ" (long s) pass as "S", and `\d`
# would match any Unicode digit.
_HSA_ID = re.compile(r"[Ss][Ee]([0-9]{10})-([A-Za-z0-9]+)")


def normalize_hsa_id(value: str) -> str:
    """SE + organisationsnummer (10 digits) + '-' + letters and digits, at most 31 characters."""
    value = (value or "").strip()
    match = _HSA_ID.fullmatch(value)
    if not match or len(value) > 31:
        raise ValidationError(
            _("HSA-id ska skrivas SE, organisationsnummer, bindestreck och en id-del, högst 31 tecken."),
            code="format",
        )
    try:
        normalize_organisation_number(match.group(1))
    except ValidationError as error:
        raise ValidationError(
            _("HSA-id innehåller ett ogiltigt organisationsnummer."), code="organisation_number"
        ) from error
    return f"SE{match.group(1)}-{match.group(2)}"


# Bankgiro and plusgiro --------------------------------------------------------------------------


def normalize_bankgiro(value: str) -> str:
    digits = _digits_only(value, "- ")
    if not 7 <= len(digits) <= 8:
        raise ValidationError(_("Bankgironumret ska ha sju eller åtta siffror."), code="length")
    if not luhn_checksum_ok(digits):
        raise ValidationError(_("Bankgironumret har fel kontrollsiffra."), code="check_digit")
    return digits


def format_bankgiro(digits: str) -> str:
    return f"{digits[:-4]}-{digits[-4:]}"


def normalize_plusgiro(value: str) -> str:
    digits = _digits_only(value, "- ")
    if not 2 <= len(digits) <= 8:
        raise ValidationError(_("Plusgironumret ska ha mellan två och åtta siffror."), code="length")
    if not luhn_checksum_ok(digits):
        raise ValidationError(_("Plusgironumret har fel kontrollsiffra."), code="check_digit")
    return digits


def format_plusgiro(digits: str) -> str:
    """Pairs from the left with the check digit apart: 4 12 34 56-7 → '41 23 45-6'."""
    body, check = digits[:-1], digits[-1]
    head = len(body) % 2
    pairs = ([body[:head]] if head else []) + [body[i : i + 2] for i in range(head, len(body), 2)]
    return f"{' '.join(pairs)}-{check}"


# Teeth -----------------------------------------------------------------------------------------

# FDI two-digit tooth numbers: permanent teeth in quadrants 1-4 (teeth 1-8), primary teeth in quadrants 5-8 (1-5).
# The one list of valid teeth: the claim validation, the prior-assessment form and the invoice file's schema
# (whose pattern a test holds to this set) all mean this one.
FDI_TEETH = frozenset(
    [f"{q}{t}" for q in range(1, 5) for t in range(1, 9)] + [f"{q}{t}" for q in range(5, 9) for t in range(1, 6)]
)


def is_fdi_tooth(value: str) -> bool:
    """Whether `value` is an FDI tooth number: 11-48 for permanent teeth, 51-85 for primary teeth."""
    return value in FDI_TEETH


# Personnummer and samordningsnummer ------------------------------------------------------------

# The invoice file specification gives this one message for any invalid personnummer; kept for that use.
PERSONAL_IDENTITY_NUMBER_INVALID = gettext_lazy("Personnumret är ogiltigt.")

# Written as a person might type it: YYMMDD-NNNC, YYMMDD+NNNC, YYMMDDNNNC, YYYYMMDD-NNNC, YYYYMMDDNNNC (and
# YYYYMMDD+NNNC). ASCII digits spelled out, since `\d` would match any Unicode digit.
_PERSONAL_IDENTITY_NUMBER = re.compile(r"([0-9]{2})?([0-9]{6})([-+]?)([0-9]{4})")
_COORDINATION_DAY_OFFSET = 60


def _real_birth_date(year: int, month: int, day: int) -> datetime.date:
    """The birth date, with a samordningsnummer's day (61–91) taken back by 60; ValueError if none exists."""
    if day > _COORDINATION_DAY_OFFSET:
        day -= _COORDINATION_DAY_OFFSET
    return datetime.date(year, month, day)


def normalize_personal_identity_number(value: str, *, today: datetime.date | None = None) -> str:
    """Personnummer or samordningsnummer, 10 or 12 digits, with or without '-' or '+' → 12 digits YYYYMMDDNNNC.

    For 10 digits the century is the one that makes the person 0–99 years old on `today` (default: today in
    the project's time zone), or 100–199 with '+'. A samordningsnummer has 60 added to the day of birth.
    """
    if today is None:
        today = timezone.localdate()
    value = (value or "").strip()
    if not value:
        raise ValidationError(_("Ange ett personnummer."), code="required")
    if re.search(r"[^0-9+-]", value):
        raise ValidationError(_("Personnumret innehåller otillåtna tecken."), code="invalid_characters")
    if len(re.sub(r"[^0-9]", "", value)) not in (10, 12):
        raise ValidationError(_("Personnumret ska ha 10 eller 12 siffror."), code="length")
    match = _PERSONAL_IDENTITY_NUMBER.fullmatch(value)
    if not match:
        raise ValidationError(
            _("Personnumret ska skrivas ÅÅMMDD-NNNN eller ÅÅÅÅMMDD-NNNN."),
            code="format",
        )
    century, yymmdd, separator, last_four = match.groups()
    # The century is never part of the check.
    if not luhn_checksum_ok(yymmdd + last_four):
        raise ValidationError(_("Personnumret har fel kontrollsiffra."), code="check_digit")

    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    real_day = day - _COORDINATION_DAY_OFFSET if day > _COORDINATION_DAY_OFFSET else day
    if century is None:
        # The latest year with these two last digits whose birthday is not after today: aged 0–99.
        year = today.year - (today.year - yy) % 100
        if year == today.year and (month, real_day) > (today.month, today.day):
            year -= 100
        if separator == "+":  # 100 or older
            year -= 100
    else:
        year = int(century + yymmdd[:2])

    try:
        born = _real_birth_date(year, month, day)
    except ValueError as error:
        raise ValidationError(_("Personnumret innehåller ett datum som inte finns."), code="date") from error
    if born > today:
        raise ValidationError(_("Personnumret ligger i framtiden."), code="future")

    pin12 = f"{year:04d}{yymmdd[2:]}{last_four}"
    if century is not None and separator == "+" and age_on(pin12, today) < 100:
        raise ValidationError(
            _("Personnumret är skrivet med plustecken men personen har inte fyllt 100 år."),
            code="separator",
        )
    return pin12


def personal_identity_number_as_logged(value: str) -> str:
    """A personnummer as a page shows it (a file's `20000101-2384`, `000101-2384`) → what the access log names.

    A valid number in its 12 digits; one that is not (a mistyped number in a file) as its digits, cut to the
    log's 12, never with its dash counted as one of them.
    """
    try:
        return normalize_personal_identity_number(value)
    except ValidationError:
        return re.sub(r"[^0-9]", "", value or "")[:12]


def is_coordination_number(pin12: str) -> bool:
    """True for a samordningsnummer: the day of birth has 60 added (61–91)."""
    return int(pin12[6:8]) > _COORDINATION_DAY_OFFSET


def birth_date(pin12: str) -> datetime.date:
    """The date of birth of a normalized personnummer or samordningsnummer."""
    return _real_birth_date(int(pin12[:4]), int(pin12[4:6]), int(pin12[6:8]))


def age_on(pin12: str, on: datetime.date) -> int:
    """Age in whole years on `on` (negative before birth). Born 29 February: a year older on 1 March in
    years without 29 February."""
    born = birth_date(pin12)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def format_personal_identity_number(pin12: str) -> str:
    """YYYYMMDDNNNC → 'YYYYMMDD-NNNC'."""
    return f"{pin12[:8]}-{pin12[8:]}"


def mask_personal_identity_number(value: str) -> str:
    """Enough to find a person's row again, not the whole number: 20000101-**** (also for a mistyped one)."""
    digits = re.sub(r"[^0-9]", "", value or "")
    if len(digits) < 10:
        return "****" if digits else ""
    return f"{digits[:-4]}-****"


# A personnummer or samordningsnummer inside other text, not part of a longer number.
_PERSONAL_IDENTITY_NUMBER_IN_TEXT = re.compile(r"(?<![0-9])(?:[0-9]{2})?([0-9]{6})[-+]?([0-9]{4})(?![0-9])")
# The fewest characters the pattern matches: six digits and four.
_SHORTEST_IN_TEXT = 10


def _looks_like_personal_identity_number(yymmdd: str, last_four: str) -> bool:
    """A birth month and day (or samordningsnummer day) and a right check digit, as every real number has."""
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > _COORDINATION_DAY_OFFSET:
        day -= _COORDINATION_DAY_OFFSET
    return 1 <= month <= 12 and 1 <= day <= 31 and luhn_checksum_ok(yymmdd + last_four)


def mask_personal_identity_numbers_in(text: str) -> str:
    """`text` with each personnummer in it masked as `mask_personal_identity_number` does.

    Only numbers with a birth date and a right check digit are taken, so that an organisationsnummer
    (month digits 20 or more), a bankgiro or most other references stay readable.
    """

    if len(text) < _SHORTEST_IN_TEXT:
        return text  # too short to hold one (a state, an amount): the common case, without the pattern

    def mask(match: re.Match) -> str:
        if _looks_like_personal_identity_number(*match.groups()):
            return mask_personal_identity_number(match.group(0))
        return match.group(0)

    return _PERSONAL_IDENTITY_NUMBER_IN_TEXT.sub(mask, text)


def _validator(normalize):
    def validate(value: str) -> None:
        if normalize(value) != value:
            raise ValidationError(_("Värdet ska sparas i normaliserad form."), code="not_normalized")

    # Migrations refer to field validators by module and qualified name.
    validate.__name__ = validate.__qualname__ = normalize.__name__.replace("normalize", "validate")
    return validate


validate_organisation_number = _validator(normalize_organisation_number)
validate_gln = _validator(normalize_gln)
validate_hsa_id = _validator(normalize_hsa_id)
validate_bankgiro = _validator(normalize_bankgiro)
validate_plusgiro = _validator(normalize_plusgiro)
validate_personal_identity_number = _validator(normalize_personal_identity_number)
