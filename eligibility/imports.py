"""Importing certificates from the region's register: reading a CSV or Excel file, and the import service.

The upload is checked by content and its header read at once (`certificate_import_start`); the rows are
imported in the background (`certificate_import_run`, from the task in eligibility.tasks) in chunks, each in
its own transaction, with progress saved after each. The key of a row is (region, Intygsnummer), so importing
the same file again, or running the task again after a crash, changes nothing it has already done.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinics.models import Region, User
from portal.audit import audit_record, snapshot
from portal.tabular import Table, cell_text, column_positions, read_table
from portal.validators import mask_personal_identity_number, normalize_personal_identity_number

from . import services
from .audit import EligibilityAudit
from .models import CERTIFICATE_IMPORT_TRANSITIONS, Certificate, CertificateImport, CertificateImportState

logger = logging.getLogger(__name__)

CHUNK_SIZE = 200
# The report keeps this many refused rows; more are counted but not listed, so a wrong file cannot make the
# row's JSON, rewritten after every chunk, grow without bound.
MAX_REPORTED_ERRORS = 1000
FAILURE_MESSAGE = gettext_lazy("Filen kunde inte importeras, försök igen.")

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Header (lower case, single spaces) → the name used here. The last two are optional, and go together.
_COLUMNS = {
    "personnummer": "personal_identity_number",
    "stödform": "support_form",
    "intygsnummer": "number",
    "grupp": "group",
    "giltigt från": "valid_from",
    "giltigt till": "valid_to",
    "återkallat från": "revoked_from",
    "skäl": "revocation_reason",
}
_REQUIRED = ("personal_identity_number", "support_form", "number", "group", "valid_from", "valid_to")
_HEADINGS = {name: heading for heading, name in _COLUMNS.items()}
_NUMBER_MAX_LENGTH = Certificate._meta.get_field("number").max_length
_GROUP_MAX_LENGTH = Certificate._meta.get_field("group").max_length
_PROGRESS_FIELDS = ["processed_rows", "created_count", "unchanged_count", "updated_count", "error_rows", "updated_at"]


# Reading the file ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedImportFile:
    """An upload that passed `check_import_file`: its safe name, our extension for it, and its checksum."""

    name: str
    extension: str
    sha256: str


def check_import_file(uploaded: UploadedFile) -> CheckedImportFile:
    """Accept an upload as a certificate file, or raise `ValidationError` with a Swedish message.

    By content, not by name alone (see portal.tabular). The header must name the required columns. The file
    is left at position 0.
    """
    table = _table(uploaded, uploaded.name or "")
    _columns(table.header(), table.name)
    return CheckedImportFile(name=table.name, extension=f".{table.kind}", sha256=table.sha256)


def _table(uploaded, name: str) -> Table:
    return read_table(uploaded, name, program_message=gettext_lazy("Filen %(name)s är ett program, ingen intygsfil."))


def _columns(header: list[Any], name: str) -> dict[str, int]:
    """Where each known column is; refuses a header that lacks a required one."""
    positions = column_positions(header, columns=_COLUMNS, required=_REQUIRED, name=name)
    if ("revoked_from" in positions) != ("revocation_reason" in positions):
        raise ValidationError(
            _("Filen %(name)s ska ha både Återkallat från och Skäl, eller ingen av dem."),
            code="columns",
            params={"name": name},
        )
    return positions


# Reading the rows ------------------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    masked_personal_identity_number: str
    number: str
    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


def _date(value: Any, column: str, errors: list[str]) -> datetime.date | None:
    """A date cell: an Excel date, or text ÅÅÅÅ-MM-DD; None when empty, or (with a message) when no date."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = cell_text(value)
    if not text:
        return None
    if _ISO_DATE.fullmatch(text):
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            pass
    errors.append(
        _("%(column)s är inget giltigt datum: %(value)s. Skriv ÅÅÅÅ-MM-DD.")
        % {"column": column.capitalize(), "value": text[:20]}
    )
    return None


def _parse_row(
    line: int, cells: list[Any], positions: dict[str, int], groups: dict[str, set[str]], region: Region
) -> _Row:
    """One row's values, checked as the certificate form checks them; every fault of the row at once."""

    def cell(column: str) -> Any:
        index = positions.get(column)
        return cells[index] if index is not None and index < len(cells) else None

    raw_pin = cell_text(cell("personal_identity_number"))
    row = _Row(line=line, masked_personal_identity_number=mask_personal_identity_number(raw_pin), number="")
    errors = row.errors
    pin = None
    try:
        pin = normalize_personal_identity_number(raw_pin)
    except ValidationError as error:
        errors.extend(error.messages)
    else:
        row.masked_personal_identity_number = mask_personal_identity_number(pin)
    support_form = cell_text(cell("support_form")).upper()
    if not support_form:
        errors.append(_("Ange stödform (N eller F)."))
    row.number = number = cell_text(cell("number"))
    if not number:
        errors.append(_("Ange intygsnummer."))
    elif len(number) > _NUMBER_MAX_LENGTH:
        errors.append(_("Intygsnumret får ha högst %(n)s tecken.") % {"n": _NUMBER_MAX_LENGTH})
    group = cell_text(cell("group")).upper()
    if not group:
        errors.append(_("Ange grupp."))
    elif len(group) > _GROUP_MAX_LENGTH:
        errors.append(_("Gruppen får ha högst %(n)s tecken.") % {"n": _GROUP_MAX_LENGTH})
    valid_from = _date(cell("valid_from"), _HEADINGS["valid_from"], errors)
    if valid_from is None and not cell_text(cell("valid_from")):
        errors.append(_("Ange giltigt från."))
    valid_to = _date(cell("valid_to"), _HEADINGS["valid_to"], errors)
    revoked_from = _date(cell("revoked_from"), _HEADINGS["revoked_from"], errors)
    reason = cell_text(cell("revocation_reason"))
    if revoked_from and not reason:
        errors.append(_("Ange skälet till att intyget återkallas."))
    if reason and not revoked_from and not cell_text(cell("revoked_from")):
        errors.append(_("Ange från vilket datum intyget är återkallat."))
    if support_form and valid_from:
        try:
            services.certificate_terms_check(
                region=region,
                support_form=support_form,
                group=group,
                valid_from=valid_from,
                valid_to=valid_to,
                groups=groups,
            )
        except ValidationError as error:
            for column, messages in error.message_dict.items():
                if column != "group" or group:  # an empty group is reported above
                    errors.extend(messages)
    row.values = {
        "personal_identity_number": pin,
        "support_form": support_form,
        "number": number,
        "group": group,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "revoked_from": revoked_from,
        "revocation_reason": reason,
    }
    return row


# The service -----------------------------------------------------------------------------------------------


@transaction.atomic
def certificate_import_start(*, actor: User, region: Region, uploaded: UploadedFile) -> CertificateImport:
    """Store a checked file and queue its import; nothing is stored when the file is refused."""
    try:
        checked = check_import_file(uploaded)
    except ValidationError as error:
        raise ValidationError({"file": error}) from error
    certificate_import = CertificateImport(
        region=region, uploaded_by=actor, original_name=checked.name, sha256=checked.sha256
    )
    # The stored name is ours, never the uploader's.
    certificate_import.file.save(f"{checked.sha256[:16]}{checked.extension}", uploaded, save=False)
    certificate_import.save()
    audit_record(
        actor=actor,
        action=EligibilityAudit.CERTIFICATE_IMPORT_UPLOADED,
        obj=certificate_import,
        after={"original_name": checked.name, "sha256": checked.sha256},
        region=region,
    )
    import_id = certificate_import.pk
    transaction.on_commit(lambda: _enqueue(import_id))
    return certificate_import


def _enqueue(import_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from .tasks import import_certificates

    try:
        import_certificates.delay(import_id)
    except BrokerUnavailable:
        # No task will ever run for it: say so rather than show a bar that never moves.
        logger.exception("certificate import %s could not be queued", import_id)
        certificate_import_fail(import_id=import_id)


def certificate_import_fail(*, import_id: int, message: str | None = None) -> None:
    """Mark an unfinished import failed, so its page stops waiting; a finished one is left as it is."""
    CERTIFICATE_IMPORT_TRANSITIONS.update(
        CertificateImport.objects.filter(pk=import_id),
        CertificateImportState.FAILED,
        failure_message=str(message or FAILURE_MESSAGE),
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def certificate_import_run(*, certificate_import: CertificateImport) -> CertificateImport:
    """Import every row of the file. Run again after a crash it starts counting from zero; rows already
    imported are then found unchanged. A finished import is left as it is."""
    with transaction.atomic():
        certificate_import = CertificateImport.objects.select_for_update().get(pk=certificate_import.pk)
        if certificate_import.is_finished:
            return certificate_import
        certificate_import.started_at = timezone.now()
        certificate_import.total_rows = certificate_import.processed_rows = 0
        certificate_import.created_count = certificate_import.unchanged_count = certificate_import.updated_count = 0
        certificate_import.error_rows = []
        CERTIFICATE_IMPORT_TRANSITIONS.move(
            certificate_import, CertificateImportState.RUNNING, fields=["started_at", "total_rows", *_PROGRESS_FIELDS]
        )

    try:
        with certificate_import.file.open("rb") as stored:
            # The name for messages is the uploader's; the stored one is ours.
            table = _table(stored, certificate_import.original_name)
        positions = _columns(table.header(), table.name)
        # First pass: the number of rows for the progress bar, and where each Intygsnummer first appears.
        total, first_line = 0, {}
        for line, cells in table.data_rows():
            total += 1
            index = positions["number"]
            number = cell_text(cells[index]) if index < len(cells) else ""
            if number:
                first_line.setdefault(number, line)
    except ValidationError as error:
        # The upload was checked, so this is a file changed or damaged since; the reason is the best answer.
        certificate_import_fail(import_id=certificate_import.pk, message=" ".join(error.messages))
        certificate_import.refresh_from_db()
        return certificate_import
    certificate_import.total_rows = total
    certificate_import.save(update_fields=["total_rows", "updated_at"])

    groups = services.certificate_groups(region=certificate_import.region)
    chunk: list[_Row] = []
    for line, cells in table.data_rows():
        row = _parse_row(line, cells, positions, groups, certificate_import.region)
        if row.number and first_line.get(row.number, line) != line:
            row.errors.append(
                _("Intygsnummer %(number)s finns redan på rad %(row)s i filen.")
                % {"number": row.number, "row": first_line[row.number]}
            )
        chunk.append(row)
        if len(chunk) == CHUNK_SIZE:
            _import_chunk(certificate_import, chunk, groups)
            chunk = []
    if chunk:
        _import_chunk(certificate_import, chunk, groups)

    certificate_import.finished_at = timezone.now()
    CERTIFICATE_IMPORT_TRANSITIONS.move(certificate_import, CertificateImportState.DONE, fields=["finished_at"])
    return certificate_import


_CREATED, _UNCHANGED, _UPDATED = "created_count", "unchanged_count", "updated_count"


@transaction.atomic
def _import_chunk(certificate_import: CertificateImport, rows: list[_Row], groups: dict[str, set[str]]) -> None:
    """Import some rows and save the progress, in one transaction: a crash loses the chunk and its count alike."""
    region = certificate_import.region
    numbers = [row.number for row in rows if not row.errors]
    existing = {
        certificate.number: certificate
        for certificate in Certificate.objects.select_for_update(of=("self",))
        .select_related("patient")
        .filter(region=region, number__in=numbers)
    }
    for row in rows:
        if not row.errors:
            try:
                outcome = _import_row(certificate_import, row, existing.get(row.number), groups)
            except ValidationError as error:
                row.errors.extend(error.messages)
            else:
                setattr(certificate_import, outcome, getattr(certificate_import, outcome) + 1)
        if row.errors and len(certificate_import.error_rows) < MAX_REPORTED_ERRORS:
            certificate_import.error_rows.append(
                {
                    "row": row.line,
                    "personnummer": row.masked_personal_identity_number,
                    "message": " ".join(row.errors),
                }
            )
    certificate_import.processed_rows += len(rows)
    certificate_import.save(update_fields=_PROGRESS_FIELDS)


def _import_row(certificate_import: CertificateImport, row: _Row, existing: Certificate | None, groups) -> str:
    """The row's outcome: the name of the count it adds to."""
    values = row.values
    if existing is None:
        try:
            # A savepoint of its own, so that a certificate someone registered meanwhile spoils only this row.
            with transaction.atomic():
                return _create(certificate_import, values, groups)
        except IntegrityError:
            existing = (
                Certificate.objects.select_for_update(of=("self",))
                .select_related("patient")
                .filter(region=certificate_import.region, number=row.number)
                .first()
            )
            if existing is None:
                raise
    return _update(certificate_import, values, existing)


def _create(certificate_import: CertificateImport, values: dict[str, Any], groups) -> str:
    actor = certificate_import.uploaded_by
    certificate = services.certificate_register(
        actor=actor,
        region=certificate_import.region,
        personal_identity_number=values["personal_identity_number"],
        support_form=values["support_form"],
        number=values["number"],
        group=values["group"],
        valid_from=values["valid_from"],
        valid_to=values["valid_to"],
        groups=groups,
    )
    if values["revoked_from"]:
        services.certificate_revoke(
            actor=actor,
            certificate=certificate,
            revoked_from=values["revoked_from"],
            reason=values["revocation_reason"],
        )
    return _CREATED


def _update(certificate_import: CertificateImport, values: dict[str, Any], certificate: Certificate) -> str:
    """Bring an existing certificate to the register's end date, group and revocation; who, which form and
    from when are what identify it, and the register may not change them."""
    number = certificate.number
    if certificate.patient.personal_identity_number != values["personal_identity_number"]:
        raise ValidationError(
            _("Intygsnummer %(number)s finns redan i regionen för en annan person.") % {"number": number}
        )
    if certificate.support_form != values["support_form"]:
        raise ValidationError(
            _("Intygsnummer %(number)s finns redan som %(form)s.")
            % {"number": number, "form": certificate.get_support_form_display()}
        )
    if certificate.valid_from != values["valid_from"]:
        raise ValidationError(
            _("Intygsnummer %(number)s finns redan med giltigt från %(date)s.")
            % {"number": number, "date": certificate.valid_from.isoformat()}
        )
    wanted = {"valid_to": values["valid_to"], "group": values["group"]}
    # An empty revocation in the file does not lift one made here: the portal has no way to lift one either.
    if values["revoked_from"]:
        wanted.update(revoked_from=values["revoked_from"], revocation_reason=values["revocation_reason"])
    changed = [name for name, value in wanted.items() if getattr(certificate, name) != value]
    if not changed:
        return _UNCHANGED
    before = snapshot(certificate, changed)
    for name in changed:
        setattr(certificate, name, wanted[name])
    update_fields = list(changed)
    if "revoked_from" in changed or "revocation_reason" in changed:
        certificate.revoked_by = certificate_import.uploaded_by
        update_fields.append("revoked_by")
    certificate.save(update_fields=update_fields)
    audit_record(
        actor=certificate_import.uploaded_by,
        action=EligibilityAudit.CERTIFICATE_IMPORTED,
        obj=certificate,
        before=before,
        after=snapshot(certificate, changed),
        region=certificate_import.region,
    )
    return _UPDATED
