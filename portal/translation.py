"""Words that can be said again in another language: a message made now, stored, and read later by someone else.

`claims.validation` and the invoice-file parser import `said as _`: each `_("…")` is the catalogue's text in the
language active now, as `gettext` gives it, and `_("…") % {…}` too, but the result remembers its msgid and
values. An invoice file's error list stores both (`InvoiceFileFault.message_id`, `message_params`) beside the
words as made, so a reader in English reads the faults of a file checked in Swedish in English.
"""

from __future__ import annotations

import datetime

from django.utils.translation import gettext


class Said(str):
    """A message of the catalogue in the active language, with what it takes to say it again."""

    msgid: str
    params: dict | None

    def __new__(cls, msgid: str, params: dict | None = None):
        text = gettext(msgid)
        said = super().__new__(cls, text % params if params is not None else text)
        said.msgid, said.params = msgid, params
        return said

    def __mod__(self, params):
        if not isinstance(params, dict):
            return str(self) % params  # positional values: the words, without the way back
        return Said(self.msgid, params)

    def stored_params(self) -> dict | None:
        """The values as JSON can keep them (numbers, text; a date as its ISO text), or None when one cannot be
        kept (then the message is shown as it was made)."""
        if self.params is None:
            return {}
        kept = {}
        for name, value in self.params.items():
            if isinstance(value, Said):
                return None
            if isinstance(value, datetime.date):
                value = value.isoformat()
            if not isinstance(value, str | int):
                return None
            kept[name] = str(value) if isinstance(value, str) else value
        return kept


def said(msgid: str) -> Said:
    return Said(msgid)


def say_again(msgid: str, params: dict | None, *, as_made: str) -> str:
    """A stored message in the language active now; the words as made when there is no way back."""
    if not msgid or params is None:
        return as_made
    try:
        text = gettext(msgid)
        return text % params if params else text
    except (KeyError, TypeError, ValueError):
        return as_made
