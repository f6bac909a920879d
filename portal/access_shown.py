"""What an access-log entry says was shown: a kind and its values (data), put into words when read, in the reader's
language, as the claim history is (claims.ClaimEvent). `AccessLogEntry.shown` keeps the words in Swedish as made.

The log is append-only (the database refuses UPDATE), so the rows of before the kinds are not rewritten: their
Swedish words are read back into a kind and values when they are one of the kinds' words (`legacy_shown`), and
shown as written when they are not.

    access_log_record(request=request, personal_identity_number=pin, shown=AccessShown(AccessShownKind.CLAIM,
                      reference=claim.reference))
"""

from __future__ import annotations

import functools
import re

from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class AccessShownKind(models.TextChoices):
    """Each kind's label is what the log says, with the values (%(name)s) of the entry's params."""

    PERSON_SEARCH = "person_search", _("Sök person: intyg, stödformer, frikort, FHB")
    CLAIM_REGISTER = "claim_register", _("Registrera räkning: intyg, stödformer, frikort, FHB")
    INVOICES = "invoices", _("Era fakturor: %(tab)s")
    INVOICES_PIN_SEARCH = "invoices_pin_search", _("Era fakturor: %(tab)s, sökning på personnummer")
    INVOICES_EXPORT = "invoices_export", _("Era fakturor: %(tab)s, export till Excel")
    INVOICE = "invoice", _("Era fakturor: faktura %(reference)s, sida %(page)s")
    INVOICE_CLAIMS = "invoice_claims", _("Era fakturor: räkningar i faktura %(reference)s")
    CLAIM = "claim", _("Räkning %(reference)s: åtgärder och historik")
    CLAIM_DELETE = "claim_delete", _("Radera räkning %(reference)s")
    CLAIM_CREDIT = "claim_credit", _("Kreditera räkning %(reference)s")
    INVOICE_FILE_FAULTS = "invoice_file_faults", _("Fakturafil: fellista")
    INVOICE_FILE_FAULTS_EXPORT = "invoice_file_faults_export", _("Fakturafil: fellista, export till Excel")
    CERTIFICATES = "certificates", _("Intyg och frikort")
    CERTIFICATE_END = "certificate_end", _("Avsluta intyg")
    CERTIFICATE_REVOKE = "certificate_revoke", _("Återkalla intyg")
    FREE_CARD_END = "free_card_end", _("Avsluta frikort")
    FREE_CARD_CORRECT = "free_card_correct", _("Rätta frikort")
    PRIOR_ASSESSMENTS = "prior_assessments", _("Förhandsbedömningar: lista")
    PRIOR_ASSESSMENT = "prior_assessment", _("Förhandsbedömning %(number)s")
    ATTACHMENT = "attachment", _("Bilaga %(name)s till %(number)s")
    REVIEW_CLAIMS = "review_claims", _("Granskning: inkomna räkningar")
    REVIEW_CLAIMS_PIN_SEARCH = "review_claims_pin_search", _("Granskning: inkomna räkningar, sökning på personnummer")
    REVIEW_CLAIM = "review_claim", _("Granskning: räkning %(reference)s")
    REVIEW_INVOICE_VOID = "review_invoice_void", _("Granskning: makulera faktura %(reference)s")
    ACCESS_LOG_SEARCH = "access_log_search", _("Åtkomstlogg: sökning")
    ACCESS_LOG_EXPORT = "access_log_export", _("Åtkomstlogg: export")
    API_CLAIMS = "api_claims", _("API: räkningar (claims)")
    API_CLAIM = "api_claim", _("API: räkning %(reference)s")
    # GET /invoices and /invoices/{id} listed every claim until they gave figures only: kept for the entries they wrote.
    API_INVOICES = "api_invoices", _("API: Era fakturor (GET /invoices)")
    API_INVOICE = "api_invoice", _("API: faktura %(reference)s (GET /invoices/{id})")
    API_INVOICE_CLAIMS = "api_invoice_claims", _("API: räkningar i faktura %(reference)s (GET /invoices/{id}/claims)")
    API_INVOICE_FILE_FAULTS = "api_invoice_file_faults", _("API: fakturafilens fellista")
    API_PRIOR_ASSESSMENTS = "api_prior_assessments", _("API: förhandsbedömningar")
    API_PRIOR_ASSESSMENT = "api_prior_assessment", _("API: förhandsbedömning %(number)s")
    API_ELIGIBILITY_CHECK = "api_eligibility_check", _("API: kontroll av rätt till stöd (eligibility-check)")


# The kinds' codes, once (Choices.values makes a new list on every call: per row of an export of a million).
_KINDS = frozenset(AccessShownKind.values)

# Era fakturor's tabs (billing.selectors.InvoiceTab), by the code an entry keeps as its "tab".
INVOICE_TAB_NAMES = {
    "received": _("Under behandling"),
    "paid": _("Utbetalda"),
    "credits": _("Kreditfakturor"),
    "voided": _("Makulerade"),
}
# Values that are codes of ours, put into words too; the others (a reference, a file name) are shown as kept.
_WORDED_PARAMS = {"tab": INVOICE_TAB_NAMES}


class AccessShown:
    """What a page showed of a patient, to be logged: a kind and its values (text or numbers)."""

    def __init__(self, kind: AccessShownKind, **params: str | int):
        self.kind = AccessShownKind(kind)
        self.params = {name: value if isinstance(value, int) else str(value) for name, value in params.items()}

    def __repr__(self) -> str:
        return f"AccessShown({self.kind.value!r}, {self.params!r})"

    def swedish(self) -> str:
        """The words as kept in `AccessLogEntry.shown`: Swedish, whoever looked."""
        with translation.override("sv"):
            return access_shown_text(self.kind, self.params, as_made="")


@functools.cache
def _legacy_patterns() -> tuple[list[tuple[str, re.Pattern]], dict[str, str]]:
    """Each kind's Swedish words as a pattern that gives back its values; a tab by its Swedish name."""
    with translation.override("sv"):
        tab_codes = {str(name): code for code, name in INVOICE_TAB_NAMES.items()}
        patterns = []
        for kind in AccessShownKind:
            parts = re.split(r"%\((\w+)\)s", str(kind.label))
            regex = ""
            for index, part in enumerate(parts):
                if index % 2 == 0:
                    regex += re.escape(part)
                elif part == "tab":
                    regex += "(?P<tab>" + "|".join(re.escape(name) for name in tab_codes) + ")"
                else:
                    regex += f"(?P<{part}>.+?)"
            patterns.append((kind.value, re.compile(regex)))
    return patterns, tab_codes


@functools.lru_cache(maxsize=4096)
def legacy_shown(words: str) -> tuple[str, dict] | None:
    """The kind and values of an entry written before the kinds, from its Swedish words; None if none fits."""
    patterns, tab_codes = _legacy_patterns()
    for kind, pattern in patterns:
        match = pattern.fullmatch(words)
        if match:
            params = match.groupdict()
            if "tab" in params:
                params["tab"] = tab_codes[params["tab"]]
            return kind, params
    return None


def access_shown_text(kind: str, params: dict | None, *, as_made: str) -> str:
    """An entry's words in the language active now; `as_made` (the stored Swedish) for a row whose words are
    none of the kinds', or whose values do not fit its kind's words."""
    if not kind:
        found = legacy_shown(as_made)
        if found is None:
            return as_made
        kind, params = found
    if kind not in _KINDS:
        return as_made
    values = {
        name: str(_WORDED_PARAMS[name].get(value, value)) if name in _WORDED_PARAMS else value
        for name, value in (params or {}).items()
    }
    template = str(AccessShownKind(kind).label)
    try:
        return template % values if "%(" in template else template
    except (KeyError, TypeError, ValueError):
        return as_made
