"""Money as whole öre (int): parsed from what people type, shown as Swedish kronor."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

NBSP = "\u00a0"
_AMOUNT = re.compile(r"^(\d{1,9})(?:[.,](\d{1,2}))?$")


def parse_kronor(value: str) -> int:
    """'1250,50', '1 250.5', '980' → öre. Negative amounts and more than two decimals are refused."""
    text = re.sub(r"[\s\u00a0]", "", str(value or "")).removesuffix("kr")
    match = _AMOUNT.match(text)
    if not match:
        raise ValidationError(_("Ange ett belopp i kronor, till exempel 980 eller 1250,50."), code="amount")
    kronor, ore = match.groups()
    return int(kronor) * 100 + int((ore or "0").ljust(2, "0"))


def format_kronor(ore: int | None, *, unit: bool = True) -> str:
    """12705050 → '127 050,50 kr'; whole kronor drop the öre: 98000 → '980 kr'.

    Every space is a no-break space (U+00A0), between the thousands and before "kr": an amount never wraps
    over two lines ("2 000⏎kr"), in a narrow table cell or a message alike.
    """
    if ore is None:
        return ""
    sign = "-" if ore < 0 else ""
    kronor, rest = divmod(abs(ore), 100)
    text = f"{kronor:,}".replace(",", NBSP)
    if rest:
        text += f",{rest:02d}"
    return f"{sign}{text}{NBSP + 'kr' if unit else ''}"
