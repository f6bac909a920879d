"""Demo money controls: clinic 32's local administrator has asked to move its payouts from plusgiro to bankgiro
555-9877, and the change waits for a second person (the region's coordinator: 32 has one local administrator).

Made through the service, as the administrator would have made it. Idempotent: a clinic that already has a change of
account (pending or decided) is left as it is, so a coordinator who confirms it in the demo is not undone.
"""

from __future__ import annotations

from collections import Counter

from clinics import services
from clinics.models import AccountChange, Clinic, PaymentMethod, User

# clinic (region, number), requested by, new payment method, new account number
ACCOUNT_CHANGES = ((("vg", "32"), "admin32@demo.test", PaymentMethod.BANKGIRO, "5559877"),)


def demo_account_changes_load(counts: Counter) -> None:
    for (region_code, number), requested_by, payment_method, account_number in ACCOUNT_CHANGES:
        clinic = Clinic.objects.filter(region__code=region_code, number=number).first()
        requester = User.objects.filter(email=requested_by).first()
        if clinic is None or requester is None:
            continue
        if AccountChange.objects.filter(clinic=clinic).exists():
            counts["unchanged"] += 1
            continue
        services.account_change_request(
            actor=requester, clinic=clinic, payment_method=payment_method, account_number=account_number
        )
        counts["created"] += 1
