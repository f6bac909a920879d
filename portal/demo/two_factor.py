"""Demo two-factor authentication: every demo account that must use it (the coordinators and the region
administrator) has an authenticator app with the one published secret, so that the demo and the tests can log in.

The secret is JBSWY3DPEHPK3PXP (base32, as apps take it): add it to any authenticator app by hand, or compute the
code with `oathtool --totp -b JBSWY3DPEHPK3PXP`. Never use it outside the demo.
"""

from __future__ import annotations

from collections import Counter

from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import User
from portal import two_factor

DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP"
DEMO_DEVICE_NAME = "Autentiseringsapp (demo)"


def demo_two_factor_load(counts: Counter) -> None:
    key = two_factor.hex_key(DEMO_TOTP_SECRET)
    for user in User.objects.filter(email__endswith="@demo.test").order_by("pk"):
        if not two_factor.two_factor_required(user):
            continue
        device = TOTPDevice.objects.filter(user=user, name=DEMO_DEVICE_NAME).first()
        if device is None:
            TOTPDevice.objects.create(user=user, name=DEMO_DEVICE_NAME, key=key, confirmed=True)
            counts["created"] += 1
        elif device.key != key or not device.confirmed:
            device.key, device.confirmed = key, True
            device.save(update_fields=["key", "confirmed"])
            counts["changed"] += 1
        else:
            counts["unchanged"] += 1
