"""A claim as it arrives, before it is stored: from the web form, an invoice file or the API.

All three doors build a `ClaimDraft` and hand it to `claims.validation.claim_validate`, the one
validation; `claims.services.claim_submit` stores it only when no fault is found.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineDraft:
    """One treatment line (åtgärd). `price` is in öre and only given for codes whose price is entered."""

    visit_date: datetime.date
    code: str
    tooth: str = ""
    jaw: str = ""  # "OK" or "UK"
    price: int | None = None
    comment: str = ""


@dataclass(frozen=True)
class FreeCardDraft:
    number: str
    valid_from: datetime.date
    valid_to: datetime.date


@dataclass(frozen=True)
class ClaimDraft:
    personal_identity_number: str  # as typed; the validation normalises it
    support_form: str  # "N", "F" or "S"
    reference: str  # räkningsreferens
    lines: list[LineDraft]
    # The patient fee paid at each visit, in öre (>= 0); a visit missing here had no fee given.
    patient_fees: dict[datetime.date, int] = field(default_factory=dict)
    certificate_number: str = ""
    care_model: str = ""  # region's code, e.g. K1
    patient_category: str = ""  # region's code, e.g. S3
    prior_assessment_number: str = ""  # FHB-YYYY-NNNNNN
    free_card: FreeCardDraft | None = None
    comment: str = ""  # räkningskommentar
    remaining_teeth: int | None = None
    intact_teeth: int | None = None

    @property
    def visit_dates(self) -> list[datetime.date]:
        return sorted({line.visit_date for line in self.lines})


@dataclass(frozen=True)
class Fault:
    """One fault of a claim: a stable code, the Swedish message the user sees, and where it is.

    Where it is is data, so that no door reads the message to place it: the claim's field, the line, the
    visit (a line's fault is its visit's too) and, for a line's, the part of the line at fault.
    """

    code: str
    message: str
    field: str = ""  # the draft's field name, e.g. "reference", "care_model", "lines", "patient_fees"
    line: int | None = None  # index into ClaimDraft.lines when the fault is a line's
    visit_date: datetime.date | None = None  # the visit the fault is about, when it is one visit's
    line_field: str = ""  # with `line`: "code", "tooth", "jaw", "price" or "comment" when one part is at fault
