"""The clinic's billing flows that cross apps, each in one transaction.

The billing core (`claims.services`) stores, credits and moves claims and knows nothing of the region's work
above it; the region's review rules (`review`) and the settling of credits (`payouts`) know claims but not when
a clinic bills. Here the two meet: a claim is stored and then put through the region's review rules, a credit is
made and then settled, each pair in one transaction so that neither half is ever left alone.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from agreements.selectors import (
    AgreementStanding,
    agreement_refusal_message,
    agreement_sign_path,
    agreement_standing,
)
from claims import services as claim_services
from claims.drafts import ClaimDraft, Fault, LineDraft
from claims.models import Claim, CreditInvoice, Invoice, InvoiceSource
from claims.tariffs import TariffBook
from claims.validation import ValidationContext, prior_assessment_request_faults, prior_assessment_request_prices
from clinics.models import Clinic, PatientCategory, User
from eligibility import services as eligibility_services
from eligibility.models import PriorAssessment
from payouts.services import credit_settle
from review.services import review_rules_apply


class AgreementUnsigned(Exception):
    """The clinic has not signed the region's agreement in force: it may not send claims (agreement_gate)."""

    code = "agreement_unsigned"

    def __init__(self, clinic: Clinic, standing: AgreementStanding):
        self.clinic = clinic
        self.standing = standing
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """In the active language: ask for it where the answer is given."""
        return agreement_refusal_message(self.standing)

    @property
    def sign_path(self) -> str:
        return agreement_sign_path(self.clinic)


def agreement_gate(*, clinic: Clinic, today: datetime.date | None = None) -> AgreementStanding:
    """The one gate on every door that sends claims (Registrera räkning and POST /claims through claim_submit,
    Ladda upp of an invoice file and POST /invoice-files/{id}/send through invoice_file_send_start): raises
    AgreementUnsigned unless the clinic may send (agreements.selectors.agreement_standing). Checking a file, Sök
    person and the eligibility check never ask it."""
    standing = agreement_standing(clinic=clinic, today=today or timezone.localdate())
    if not standing.may_send:
        raise AgreementUnsigned(clinic, standing)
    return standing


@transaction.atomic
def claim_submit(
    *,
    actor: User,
    clinic: Clinic,
    invoice_reference: str,
    draft: ClaimDraft,
    source: str = InvoiceSource.WEB,
    context: ValidationContext | None = None,
) -> Claim:
    """Store a claim (`claims.services.claim_submit`, which raises ClaimRejected) and apply the region's review
    rules to it, which decide whether it waits for review or for the payout run. A clinic that has not signed the
    region's agreement is refused first (AgreementUnsigned, `agreement_gate`)."""
    agreement_gate(clinic=clinic)
    claim = claim_services.claim_submit(
        actor=actor, clinic=clinic, invoice_reference=invoice_reference, draft=draft, source=source, context=context
    )
    review_rules_apply(claims=[claim])
    return claim


def claims_submit(
    *, actor: User, invoice: Invoice, drafts: list[ClaimDraft], context: ValidationContext
) -> list[Claim]:
    """Store many claims of one invoice (a chunk of an invoice file) and apply the region's review rules to them
    in bulk. Call inside the transaction that made the invoice, as `claims.services.claims_submit`."""
    claims = claim_services.claims_submit(actor=actor, invoice=invoice, drafts=drafts, context=context)
    review_rules_apply(claims=claims)
    return claims


@transaction.atomic
def claim_credit(*, actor: User, claim: Claim, line_ids: list[int] | None = None) -> CreditInvoice:
    """Credit a paid claim (`claims.services.claim_credit`) and settle the credit: a plusgiro clinic owes it back
    to the region (a repayment), a bankgiro clinic's is set off against its next payout."""
    credit = claim_services.claim_credit(actor=actor, claim=claim, line_ids=line_ids)
    credit_settle(credit=credit, actor=actor)
    return credit


class PriorAssessmentRejected(Exception):
    """An FHB request was not stored: every fault found, in the validation's words (`Fault.line` is the planned
    line's place among the lines given)."""

    def __init__(self, faults: list[Fault]):
        self.faults = list(faults)
        super().__init__("; ".join(fault.message for fault in self.faults))


@transaction.atomic
def prior_assessment_request(
    *,
    actor: User,
    clinic: Clinic,
    personal_identity_number: str,
    support_form: str,
    patient_category: str,
    planned_date: datetime.date,
    justification: str,
    lines: list[LineDraft],
    attachments: list,
) -> PriorAssessment:
    """The clinic's FHB request, checked as a claim is (`claims.validation.prior_assessment_request_faults`: codes
    of the region's tariff on the planned date, tooth and jaw, prices entered only where the tariff has none, the
    patient category for S), then stored by `eligibility.services.prior_assessment_request` with each line's
    estimated price from the tariff where it is fixed. Raises PriorAssessmentRejected."""
    tariff = TariffBook(clinic.region)
    faults = prior_assessment_request_faults(
        region=clinic.region,
        support_form=support_form,
        planned_date=planned_date,
        patient_category=patient_category,
        lines=lines,
        tariff=tariff,
    )
    if faults:
        raise PriorAssessmentRejected(faults)
    prices = prior_assessment_request_prices(lines=lines, planned_date=planned_date, tariff=tariff)
    category = (
        PatientCategory.objects.of_region(clinic.region).filter(code=patient_category.strip()).first()
        if patient_category.strip()
        else None
    )
    return eligibility_services.prior_assessment_request(
        actor=actor,
        clinic=clinic,
        personal_identity_number=personal_identity_number,
        support_form=support_form,
        justification=justification,
        lines=[
            {"code": line.code, "tooth": line.tooth.strip(), "jaw": line.jaw.strip(), "estimated_price": price}
            for line, price in zip(lines, prices, strict=True)
        ],
        attachments=attachments,
        planned_date=planned_date,
        patient_category=category,
    )
