"""Check digits and formats of Swedish identifiers: organisationsnummer, GLN, HSA-id, bankgiro, plusgiro.

Each `normalize_*` function takes what a person typed, returns the canonical stored form, or raises
`ValidationError` with a Swedish message. `validate_*` wraps it for model and form fields, and
`format_*` gives the form shown on screen.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


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
