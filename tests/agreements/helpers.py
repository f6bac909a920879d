"""Agreement versions and signatures for tests, made directly (dates anywhere) or through the services."""

from __future__ import annotations

import datetime

from django.utils import timezone

from agreements import services
from agreements.models import AgreementSignature, AgreementVersion
from clinics.models import ClinicRole

DAY = datetime.timedelta(days=1)


def version(region, publisher, *, number: int, valid_from, must_sign_again=True, sign_by=None) -> AgreementVersion:
    return AgreementVersion.objects.create(
        region=region,
        number=number,
        title=f"Avtal {number}",
        text="Avtalstext.",
        valid_from=valid_from,
        must_sign_again=must_sign_again,
        sign_by=sign_by,
        published_by=publisher,
    )


def signed(version: AgreementVersion, clinic, user) -> AgreementSignature:
    return AgreementSignature.objects.create(
        version=version, clinic=clinic, signed_by=user, role=ClinicRole.LOCAL_ADMIN
    )


def overdue_version(region, publisher) -> AgreementVersion:
    """A new version of the region's agreement, in force for five days, whose sign-by day was yesterday: a clinic
    that has not signed it may not send claims. Published through the service (dated back)."""
    today = timezone.localdate()
    return services.agreement_publish(
        actor=publisher,
        region=region,
        title="Avtal om särskilt tandvårdsstöd, ny version",
        text="Ny avtalstext.",
        valid_from=today - 5 * DAY,
        sign_by=today - DAY,
        today=today - 10 * DAY,
    )
