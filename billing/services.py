"""The clinic's billing flows that cross apps, each in one transaction.

The billing core (`claims.services`) stores, credits and moves claims and knows nothing of the region's work
above it; the region's review rules (`review`) and the settling of credits (`payouts`) know claims but not when
a clinic bills. Here the two meet: a claim is stored and then put through the region's review rules, a credit is
made and then settled, each pair in one transaction so that neither half is ever left alone.
"""

from __future__ import annotations

from django.db import transaction

from claims import services as claim_services
from claims.drafts import ClaimDraft
from claims.models import Claim, CreditInvoice, Invoice, InvoiceSource
from claims.validation import ValidationContext
from clinics.models import Clinic, User
from payouts.services import credit_settle
from review.services import review_rules_apply


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
    rules to it, which decide whether it waits for review or for the payout run."""
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
