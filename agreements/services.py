"""Publishing the region's agreement versions and signing them, each in one transaction with its audit record."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import Clinic, ClinicMembership, ClinicRole, Region, User
from portal.audit import audit_record
from portal.events import NewClinicEvent, clinic_events_record
from portal.models import ClinicEventKind
from portal.uploads import check_attachment

from .audit import AgreementsAudit
from .models import AgreementSignature, AgreementVersion

# Who signs for the clinic.
SIGNING_ROLES = frozenset({ClinicRole.AGREEMENT_OWNER, ClinicRole.LOCAL_ADMIN})


def _check_pdf(uploaded: UploadedFile):
    checked = check_attachment(uploaded)  # type by name and content, size, programs refused
    if checked.extension != ".pdf":
        raise ValidationError({"file": _("Avtalet laddas upp som PDF.")}, code="not_pdf")
    return checked


@transaction.atomic
def agreement_publish(
    *,
    actor: User,
    region: Region,
    title: str,
    text: str = "",
    file: UploadedFile | None = None,
    valid_from: datetime.date,
    must_sign_again: bool = True,
    sign_by: datetime.date | None = None,
    today: datetime.date | None = None,
) -> AgreementVersion:
    """Publish a new version of the region's agreement; every active clinic of the region is told (a clinic
    event, which notifications turns into *Avtal att signera* for those who sign)."""
    today = today or timezone.localdate()
    region = Region.objects.select_for_update().get(pk=region.pk)
    errors: dict[str, str] = {}
    title = title.strip()
    text = text.strip()
    if not title:
        errors["title"] = _("Ange avtalets rubrik.")
    if not text and file is None:
        errors["text"] = _("Skriv avtalets text eller ladda upp det som PDF.")
    if valid_from < today:
        errors["valid_from"] = _("Avtalet kan inte gälla från ett datum som redan har passerat.")
    first = not AgreementVersion.objects.of_region(region).exists()
    needs_signature = first or must_sign_again
    if needs_signature and sign_by is None:
        errors["sign_by"] = _("Ange sista dag för signering.")
    if sign_by is not None and sign_by < valid_from:
        errors["sign_by"] = _("Sista dag för signering kan inte vara före giltighetsdagen.")
    checked = None
    if file is not None:
        try:
            checked = _check_pdf(file)
        except ValidationError as error:
            errors["file"] = " ".join(error.messages)
    if errors:
        raise ValidationError(errors)
    number = (AgreementVersion.objects.of_region(region).aggregate(top=Max("number"))["top"] or 0) + 1
    version = AgreementVersion(
        region=region,
        number=number,
        title=title,
        text=text,
        valid_from=valid_from,
        must_sign_again=needs_signature,
        sign_by=sign_by,
        published_by=actor,
    )
    if checked is not None:
        version.original_name = checked.name
        version.size = checked.size
        version.sha256 = checked.sha256
        version.file.save(checked.name, file, save=False)
    version.save()
    after = {
        "number": number,
        "title": title,
        "valid_from": valid_from.isoformat(),
        "must_sign_again": version.must_sign_again,
        "sign_by": sign_by.isoformat() if sign_by else None,
        "sha256": version.sha256,
    }
    audit_record(actor=actor, action=AgreementsAudit.VERSION_PUBLISHED, obj=version, after=after, region=region)
    data = {
        "number": number,
        "valid_from": valid_from.isoformat(),
        "must_sign": version.must_sign_again,
        "sign_by": sign_by.isoformat() if sign_by else None,
    }
    clinic_events_record(
        NewClinicEvent(
            clinic_id=clinic_id,
            kind=ClinicEventKind.AGREEMENT_PUBLISHED,
            object_type="agreement_version",
            object_id=version.pk,
            data=data,
            actor_id=actor.pk,
        )
        for clinic_id in Clinic.objects.of_region(region).filter(is_active=True).values_list("pk", flat=True)
    )
    return version


@transaction.atomic
def agreement_sign(
    *, actor: User, clinic: Clinic, version: AgreementVersion, today: datetime.date | None = None
) -> AgreementSignature:
    """The clinic signs a version: its Avtalsansvarig or a local administrator, the version in force or one to
    come. Signing a version already signed answers the signature there is (who signed first stays)."""
    today = today or timezone.localdate()
    clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
    existing = AgreementSignature.objects.of_clinic(clinic).filter(version=version).first()
    if existing is not None:
        return existing
    membership = ClinicMembership.objects.of_clinic(clinic).filter(user=actor, is_active=True).first()
    if membership is None or membership.role not in SIGNING_ROLES:
        raise ValidationError(
            _("Avtalet signeras av klinikens avtalsansvarige eller lokala administratör."), code="role"
        )
    if version.region_id != clinic.region_id:
        raise ValidationError(_("Avtalet gäller en annan region."), code="region")
    newer_in_force = (
        AgreementVersion.objects.of_region(clinic.region_id)
        .filter(valid_from__lte=today, valid_from__gt=version.valid_from)
        .exists()
    )
    if newer_in_force:
        raise ValidationError(_("Den här versionen av avtalet har ersatts av en nyare."), code="superseded")
    signature = AgreementSignature.objects.create(version=version, clinic=clinic, signed_by=actor, role=membership.role)
    audit_record(
        actor=actor,
        action=AgreementsAudit.SIGNED,
        obj=signature,
        after={"version": version.number, "title": version.title, "role": membership.role},
        clinic=clinic,
        region=clinic.region_id,
    )
    return signature
