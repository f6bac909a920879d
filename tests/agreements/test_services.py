"""Publishing a version (checked, numbered, audited, every clinic told) and signing it (who may, which version,
once, kept forever)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.utils import timezone

from agreements import services
from agreements.models import AgreementSignature, AgreementVersion
from clinics.models import ClinicRole
from notifications.models import Notification, NotificationKind
from notifications.selectors import notification_link, notification_text
from notifications.services import notifications_fan_out
from portal.models import AuditEvent, ClinicEvent, ClinicEventKind
from tests.clinics.factories import ClinicMembershipFactory

from .helpers import DAY, version

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _publish(world, **overrides):
    today = timezone.localdate()
    values = {
        "actor": world.region_admin,
        "region": world.region,
        "title": "Avtal om särskilt tandvårdsstöd",
        "text": "Vårdgivaren fakturerar enligt regionens regler.",
        "valid_from": today,
        "sign_by": today + 30 * DAY,
    }
    return services.agreement_publish(**{**values, **overrides})


def test_a_version_is_numbered_per_region_audited_and_every_active_clinic_told(small_world):
    clinics = [small_world.clinic, small_world.other_clinic]
    small_world.other_region_clinic  # another region's clinic is not told
    first = _publish(small_world)
    second = _publish(small_world, must_sign_again=False, sign_by=None)
    other = _publish(small_world, region=small_world.other_region)
    assert (first.number, second.number, other.number) == (1, 2, 1)
    assert AuditEvent.objects.filter(action="agreements.version.published", object_id=str(first.pk)).count() == 1
    told = ClinicEvent.objects.filter(kind=ClinicEventKind.AGREEMENT_PUBLISHED, object_id=first.pk)
    assert sorted(told.values_list("clinic_id", flat=True)) == sorted(c.pk for c in clinics)
    assert told.first().data == {
        "number": 1,
        "valid_from": first.valid_from.isoformat(),
        "must_sign": True,
        "sign_by": first.sign_by.isoformat(),
    }


def test_the_first_version_is_always_signed_whatever_the_flag(small_world):
    assert _publish(small_world, must_sign_again=False).must_sign_again is True


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"title": "  "}, "title"),
        ({"text": "", "file": None}, "text"),
        ({"valid_from": timezone.localdate() - DAY}, "valid_from"),
        ({"sign_by": None}, "sign_by"),
        ({"sign_by": timezone.localdate() - DAY}, "sign_by"),
        ({"file": SimpleUploadedFile("avtal.docx", b"PK\x03\x04xx")}, "file"),
        ({"file": SimpleUploadedFile("avtal.pdf", b"MZ\x90\x00 a program")}, "file"),
        ({"file": SimpleUploadedFile("avtal.pdf", b"<html>not a pdf</html>")}, "file"),
    ],
    ids=[
        "no title",
        "no text or file",
        "valid from passed",
        "no sign-by day",
        "sign-by before valid",
        "docx",
        "program",
        "not a pdf",
    ],
)
def test_a_version_that_is_not_whole_is_refused_with_the_field(small_world, overrides, field):
    with pytest.raises(ValidationError) as refused:
        _publish(small_world, **overrides)
    assert field in refused.value.message_dict
    assert not AgreementVersion.objects.exists()


def test_a_pdf_is_stored_with_its_checksum(small_world):
    published = _publish(small_world, text="", file=SimpleUploadedFile("Avtal 2027.pdf", PDF))
    assert published.original_name == "Avtal 2027.pdf" and published.size == len(PDF) and len(published.sha256) == 64
    with published.file.open("rb") as handle:
        assert handle.read() == PDF


@pytest.mark.parametrize("role", [ClinicRole.LOCAL_ADMIN, ClinicRole.AGREEMENT_OWNER])
def test_the_avtalsansvarig_or_a_local_administrator_signs_once_and_it_is_audited(small_world, role):
    published = _publish(small_world)
    signer = ClinicMembershipFactory(clinic=small_world.clinic, role=role).user
    signature = services.agreement_sign(actor=signer, clinic=small_world.clinic, version=published)
    assert (signature.signed_by, signature.role, signature.version) == (signer, role, published)
    again = services.agreement_sign(actor=small_world.admin, clinic=small_world.clinic, version=published)
    assert again == signature  # who signed first stays
    assert AgreementSignature.objects.count() == 1
    assert AuditEvent.objects.filter(action="agreements.version.signed", object_id=str(signature.pk)).count() == 1


@pytest.mark.parametrize("role", [ClinicRole.BILLER, ClinicRole.FINANCE])
def test_a_biller_or_ekonomi_cannot_sign(small_world, role):
    published = _publish(small_world)
    user = ClinicMembershipFactory(clinic=small_world.clinic, role=role).user
    with pytest.raises(ValidationError, match="avtalsansvarige eller lokala administratör"):
        services.agreement_sign(actor=user, clinic=small_world.clinic, version=published)
    assert not AgreementSignature.objects.exists()


def test_another_regions_version_or_a_superseded_one_cannot_be_signed(small_world):
    today = timezone.localdate()
    other = _publish(small_world, region=small_world.other_region)
    with pytest.raises(ValidationError, match="annan region"):
        services.agreement_sign(actor=small_world.admin, clinic=small_world.clinic, version=other)
    old = version(small_world.region, small_world.region_admin, number=1, valid_from=today - 50 * DAY)
    version(small_world.region, small_world.region_admin, number=2, valid_from=today - DAY, sign_by=today)
    with pytest.raises(ValidationError, match="ersatts av en nyare"):
        services.agreement_sign(actor=small_world.admin, clinic=small_world.clinic, version=old)
    coming = version(small_world.region, small_world.region_admin, number=3, valid_from=today + 5 * DAY)
    assert services.agreement_sign(actor=small_world.admin, clinic=small_world.clinic, version=coming).pk


def test_versions_and_signatures_are_kept_forever(small_world):
    published = _publish(small_world)
    signature = services.agreement_sign(actor=small_world.admin, clinic=small_world.clinic, version=published)
    for change in (
        lambda: AgreementVersion.objects.filter(pk=published.pk).update(title="Ändrad"),
        lambda: AgreementSignature.objects.filter(pk=signature.pk).delete(),
        lambda: AgreementSignature.objects.filter(pk=signature.pk).update(signed_at=datetime.datetime(2020, 1, 1)),
    ):
        with pytest.raises((InternalError, ProgrammingError, IntegrityError)), transaction.atomic():
            change()


def test_a_new_version_tells_those_who_sign_in_their_language_with_the_sign_by_day(transactional_small_world):
    # Committed: the feed hands on only events of transactions that have ended (portal.events).
    small_world = transactional_small_world
    clinic = small_world.clinic
    small_world.biller  # a biller is not told
    owner = ClinicMembershipFactory(clinic=clinic, role=ClinicRole.AGREEMENT_OWNER, user__language="en").user
    admin = small_world.admin
    published = _publish(small_world)
    notifications_fan_out(clinic_id=clinic.pk)
    told = Notification.objects.filter(clinic=clinic, kind=NotificationKind.AGREEMENT_TO_SIGN)
    assert sorted(told.values_list("recipient_id", flat=True)) == sorted([owner.pk, admin.pk])
    notification = told.get(recipient=admin)
    sign_by = published.sign_by.isoformat()
    assert notification_text(notification) == (
        f"Regionen har publicerat version 1 av avtalet, giltig från {published.valid_from.isoformat()}. "
        f"Signera den senast {sign_by}."
    )
    assert notification_link(notification) == f"/klinik/{clinic.pk}/avtal/"
    from django.utils import translation

    with translation.override("en"):
        assert sign_by in notification_text(told.get(recipient=owner)) and "Signera" not in notification_text(
            told.get(recipient=owner)
        )
