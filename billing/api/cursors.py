"""The API's list cursors: the last row's ordering values, signed, one salt per list (billing/api/claims.py,
invoices.py)."""

from __future__ import annotations

from django.core import signing
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.exceptions import ValidationError


class Cursor:
    """Where the next page starts: the last row's ordering values, signed (opaque, and a changed one is refused
    rather than read), with a salt per list so one list's cursor is no cursor of another."""

    def __init__(self, salt: str):
        self.salt = f"tandportal.api.cursor.{salt}"

    def dump(self, *values) -> str:
        return signing.dumps([str(value) for value in values], salt=self.salt, compress=True)

    def load(self, text: str) -> list[str]:
        try:
            values = signing.loads(text, salt=self.salt)
        except signing.BadSignature as error:
            raise cursor_invalid() from error
        if not isinstance(values, list) or len(values) != 2 or not all(isinstance(v, str) for v in values):
            raise cursor_invalid()
        return values


def cursor_invalid() -> ValidationError:
    return ValidationError(
        {
            "cursor": [
                serializers.ErrorDetail(
                    _("Markören är okänd: använd next_cursor från förra svaret, oförändrad."), code="invalid_cursor"
                )
            ]
        }
    )
