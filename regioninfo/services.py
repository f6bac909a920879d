"""Publishing the region's information, and marking it read. Each change in one transaction, audited."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import Region, User
from portal.audit import audit_record, snapshot
from portal.uploads import check_attachment

from .audit import RegionInfoAudit
from .models import Publication, PublicationKind, PublicationRead


def publication_file_check(uploaded: UploadedFile):
    """A PDF, checked by its content and size (portal.uploads), or a ValidationError in Swedish."""
    checked = check_attachment(uploaded)
    if checked.extension != ".pdf":
        raise ValidationError(
            _("Filen %(name)s är inte en PDF-fil. Bifoga dokumentet som PDF.") % {"name": checked.name},
            code="not_pdf",
        )
    return checked


@transaction.atomic
def publication_publish(
    *,
    actor: User,
    region: Region,
    kind: str,
    title: str,
    body: str = "",
    valid_from: datetime.date,
    file: UploadedFile | None = None,
) -> Publication:
    """Publish to every clinic of the region: shown on their start pages and under Dokument from `valid_from`."""
    if kind not in PublicationKind.values:
        raise ValidationError({"kind": _("Okänd typ.")})
    title, body = title.strip(), body.strip()
    if not title:
        raise ValidationError({"title": _("Ange en rubrik.")})
    if not body and file is None:
        raise ValidationError(_("Skriv en text eller bifoga en PDF."), code="empty")
    publication = Publication(
        region=region, kind=kind, title=title, body=body, valid_from=valid_from, published_by=actor
    )
    if file is not None:
        checked = publication_file_check(file)
        publication.file_name, publication.file_size, publication.file_sha256 = (
            checked.name,
            checked.size,
            checked.sha256,
        )
        publication.file.save(checked.name, file, save=False)
    publication.save()
    audit_record(
        actor=actor,
        action=RegionInfoAudit.PUBLISHED,
        obj=publication,
        after=snapshot(publication, ["kind", "title", "valid_from", "file_name", "file_sha256"]),
        region=region,
    )
    return publication


@transaction.atomic
def publication_withdraw(*, actor: User, publication: Publication) -> Publication:
    """Avpublicera: the clinics no longer see it; the region still does, with who read it. Twice changes nothing."""
    publication = Publication.objects.select_for_update().get(pk=publication.pk)
    if publication.withdrawn_at is not None:
        return publication
    publication.withdrawn_by, publication.withdrawn_at = actor, timezone.now()
    publication.save(update_fields=["withdrawn_by", "withdrawn_at"])
    audit_record(
        actor=actor,
        action=RegionInfoAudit.WITHDRAWN,
        obj=publication,
        before={"withdrawn_at": None},
        after=snapshot(publication, ["withdrawn_at"]),
        region=publication.region_id,
    )
    return publication


def publication_mark_read(*, user: User, publication: Publication) -> bool:
    """Mark the publication read by `user` (opening it does): once, also when opened twice at the same moment.
    Whether this was the first time."""
    _read, created = PublicationRead.objects.get_or_create(publication=publication, user=user)
    return created
