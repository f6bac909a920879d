"""Invoice files (fakturafiler): the upload, the check in the background, sending the correct claims, discarding.

The upload is checked for size and content and stored with its SHA-256 (`invoice_file_start`); the claims are
checked by the task in billing.tasks (`invoice_file_check`): the file is read once for its counts, then again as
a stream in chunks, each chunk's fault rows and progress saved in one transaction, so memory does not grow with
the file. A run starts by deleting the rows of any earlier run, so a run repeated after a crash leaves no
duplicates. Ladda upp (`invoice_file_send_start`) queues the sending, which the task `send_invoice_file` does
(`invoice_file_send`): the correct claims stored a chunk at a time through `billing.services.claims_submit` as
one invoice, in one transaction: all or none.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
from array import array
from collections.abc import Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice, pairwise

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from claims.audit import ClaimsAudit
from claims.drafts import Fault
from claims.models import (
    INVOICE_FILE_TRANSITIONS,
    Invoice,
    InvoiceFileFault,
    InvoiceFileState,
    InvoiceFileUpload,
    InvoiceSource,
)
from claims.services import ClaimRejected, care_lock, invoice_for_claims
from claims.validation import (
    ValidationContext,
    billing_deadline_warnings,
    claim_validate,
    invoice_reference_fault,
)
from clinics.models import Clinic, ClinicMembership, ClinicRole, Organisation, OrganisationMembership, User
from portal.audit import audit_record
from portal.background import stalled_before
from portal.events import clinic_event_record
from portal.models import ClinicEventKind
from portal.translation import Said, said

from .invoice_file import MAX_BYTES, InvoiceFileRejected, ParsedClaim, parse_invoice_file
from .services import agreement_gate, claims_submit

logger = logging.getLogger(__name__)

# The spec's limit; a region setting can replace it later.
MAX_FILE_SIZE = MAX_BYTES
# Claims checked, saved and sent together: large enough that queries are few, small enough that memory is flat.
CHUNK_SIZE = 1000
# Kept in failure_message of a queued upload whose check could not be queued (the task queue away); never shown as
# it is: the file's page says in words that the check starts when the queue is back.
QUEUE_WAITS = "queue-waits"
FAILURE_MESSAGE = gettext_lazy("Filen kunde inte kontrolleras, försök igen.")
SEND_FAILURE_MESSAGE = gettext_lazy("Räkningarna kunde inte skickas. Inget har skickats, försök igen.")
# A file is read this far to see whether it looks like XML.
_SNIFF_BYTES = 4096
_ORIGINAL_NAME_MAX_LENGTH = InvoiceFileUpload._meta.get_field("original_name").max_length


# The upload ------------------------------------------------------------------------------------------------


def _sniff_xml(head: bytes) -> bool:
    """True when the start of a file looks like XML text: no NUL byte, and the first thing is a tag."""
    if b"\x00" in head:
        return False
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return text.startswith(b"<")


def _check_upload(uploaded: UploadedFile) -> str:
    """The file's SHA-256, or `ValidationError` when it is too large or does not look like XML."""
    if uploaded.size is not None and uploaded.size > MAX_FILE_SIZE:
        raise ValidationError(
            _("Filen är större än %(max)s MB.") % {"max": MAX_FILE_SIZE // (1024 * 1024)}, code="too_large"
        )
    if not uploaded.size:
        raise ValidationError(_("Filen är tom."), code="empty")
    uploaded.seek(0)
    if not _sniff_xml(uploaded.read(_SNIFF_BYTES)):
        raise ValidationError(_("Filen är inte en XML-fil."), code="not_xml")
    uploaded.seek(0)
    digest = hashlib.sha256()
    for chunk in uploaded.chunks():
        digest.update(chunk)
    uploaded.seek(0)
    return digest.hexdigest()


def _safe_name(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip() or "fakturafil.xml"
    return "".join(char for char in name if char.isprintable())[:_ORIGINAL_NAME_MAX_LENGTH]


@dataclass(frozen=True)
class StartedUpload:
    """What `invoice_file_start` did: the upload to show, and whether it is an earlier upload of the same file."""

    upload: InvoiceFileUpload
    earlier: bool
    # The task queue (Redis) could not be reached: the file is kept and waits; beat queues it once the queue is back.
    queue_waits: bool = False


def invoice_file_earlier(*, clinic: Clinic, sha256: str, review_only: bool = False) -> InvoiceFileUpload | None:
    """An earlier upload of the same file that was sent, or is being checked or waits to be sent.

    An earlier check for review only does not keep the same file from being uploaded to be sent.
    """
    waiting = [InvoiceFileState.QUEUED, InvoiceFileState.RUNNING, InvoiceFileState.CHECKED]
    return (
        InvoiceFileUpload.objects.filter(clinic=clinic, sha256=sha256)
        .filter(Q(state=InvoiceFileState.SENT) | Q(state__in=waiting, review_only=review_only))
        .order_by("-created_at", "-id")
        .first()
    )


class ClinicFileBeingChecked(Exception):
    """Another file of the clinic waits for its check or is being checked (`invoice_file_start` with
    `one_at_a_time`): the caller is asked to come back, not to queue a file behind it."""

    def __init__(self, upload: InvoiceFileUpload):
        self.upload = upload
        super().__init__(f"invoice file {upload.pk} of the clinic is being checked")


def invoice_file_being_checked(*, clinic: Clinic) -> InvoiceFileUpload | None:
    """The clinic's file waiting for its check or being checked, unless its worker is surely gone."""
    return (
        InvoiceFileUpload.objects.of_clinic(clinic)
        .filter(state__in=[InvoiceFileState.QUEUED, InvoiceFileState.RUNNING], updated_at__gte=stalled_before())
        .order_by("created_at", "id")
        .first()
    )


def invoice_file_start(
    *, actor: User, clinic: Clinic, uploaded: UploadedFile, review_only: bool = False, one_at_a_time: bool = False
) -> StartedUpload:
    """Store an uploaded invoice file and queue its check once the upload commits.

    The same file again, while an earlier upload of it is being checked, waits to be sent or was sent, is
    not stored a second time: the earlier upload is answered, so the file is never sent twice. With
    `one_at_a_time` (the API) another file is refused with `ClinicFileBeingChecked` while one of the clinic's is
    being checked, as the worker checks one file per clinic at a time (`clinic_check_slot`); the web's page
    queues it behind instead.
    """
    try:
        sha256 = _check_upload(uploaded)
    except ValidationError as error:
        raise ValidationError({"file": error}) from error
    earlier = invoice_file_earlier(clinic=clinic, sha256=sha256, review_only=review_only)
    if earlier is not None:
        return StartedUpload(upload=earlier, earlier=True)
    with transaction.atomic():
        if one_at_a_time:
            # Two uploads of the clinic at once: the second waits for the first to commit, then sees it.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CLINIC_UPLOAD_LOCK, clinic.pk])
            checking = invoice_file_being_checked(clinic=clinic)
            if checking is not None:
                raise ClinicFileBeingChecked(checking)
        upload = _store(actor=actor, clinic=clinic, uploaded=uploaded, sha256=sha256, review_only=review_only)
    # The check was queued (or not) as the transaction committed, just above.
    upload.refresh_from_db(fields=["failure_message"])
    return StartedUpload(upload=upload, earlier=False, queue_waits=upload.failure_message == QUEUE_WAITS)


def _store(*, actor: User, clinic: Clinic, uploaded: UploadedFile, sha256: str, review_only: bool) -> InvoiceFileUpload:
    upload = InvoiceFileUpload(
        clinic=clinic,
        uploaded_by=actor,
        original_name=_safe_name(uploaded.name),
        sha256=sha256,
        size=uploaded.size or 0,
        review_only=review_only,
    )
    # The stored name is ours, never the uploader's.
    upload.file.save(f"{sha256[:16]}.xml", uploaded, save=False)
    upload.save()
    audit_record(
        actor=actor,
        action=ClaimsAudit.INVOICE_FILE_UPLOADED,
        obj=upload,
        after={"original_name": upload.original_name, "sha256": sha256, "review_only": review_only},
        clinic=clinic,
    )
    upload_id = upload.pk
    transaction.on_commit(lambda: _enqueue(upload_id))
    return upload


def _enqueue(upload_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from .tasks import check_invoice_file

    try:
        check_invoice_file.delay(upload_id)
    except BrokerUnavailable:
        # The queue (Redis) is away. The file is stored: it waits, marked, and `invoice_files_queue_waiting` (beat,
        # every minute) queues it once the queue answers again; its page says so meanwhile.
        logger.warning("invoice file %s could not be queued; it waits for the queue", upload_id, exc_info=True)
        InvoiceFileUpload.objects.filter(pk=upload_id, state=InvoiceFileState.QUEUED).update(
            failure_message=QUEUE_WAITS
        )


def invoice_files_queue_waiting(*, limit: int = 500) -> int:
    """Queue the check of every stored file whose queueing failed (`_enqueue`); returns how many were queued.

    Stops at the first file the queue still refuses: it is away yet, and the next run tries again."""
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from .tasks import check_invoice_file

    waiting = list(
        InvoiceFileUpload.objects.filter(state=InvoiceFileState.QUEUED, failure_message=QUEUE_WAITS)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    queued = 0
    for upload_id in waiting:
        try:
            check_invoice_file.delay(upload_id)
        except BrokerUnavailable:
            logger.warning("the queue is still away; %s files wait", len(waiting) - queued)
            break
        InvoiceFileUpload.objects.filter(
            pk=upload_id, state=InvoiceFileState.QUEUED, failure_message=QUEUE_WAITS
        ).update(failure_message="", updated_at=timezone.now())
        queued += 1
    return queued


# One file per clinic is checked at a time: a clinic that sends a second large file while its first is being
# checked waits for the first, and holds no more than one worker; the files of other clinics go on being checked
# beside it. A PostgreSQL advisory lock per clinic (the two-key form, under this first key): it is the worker's
# connection's, so a worker that is killed lets go of it with its connection.
_CLINIC_CHECK_LOCK = 0x74706631  # "tpf1"
# Uploads of one clinic that may not queue behind another file (`one_at_a_time`) are stored one at a time.
_CLINIC_UPLOAD_LOCK = 0x74706632  # "tpf2"


@contextmanager
def clinic_check_slot(clinic_id: int) -> Iterator[bool]:
    """Hold the clinic's turn to have a file checked, if it is free: yields True with it, False without."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_CLINIC_CHECK_LOCK, clinic_id])
        taken = cursor.fetchone()[0]
    try:
        yield taken
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_CLINIC_CHECK_LOCK, clinic_id])


def invoice_file_fail(*, upload_id: int, message: str | None = None) -> None:
    """Mark an upload still being checked failed, so its page stops waiting; a checked one is left as it is."""
    INVOICE_FILE_TRANSITIONS.update(
        InvoiceFileUpload.objects.filter(pk=upload_id),
        InvoiceFileState.FAILED,
        sources=[InvoiceFileState.QUEUED, InvoiceFileState.RUNNING],
        failure_message=str(message or FAILURE_MESSAGE),
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


# The check -------------------------------------------------------------------------------------------------


class RepeatedReferences(Container[str]):
    """The references a file gives more than once, found among all of them while keeping each as an 8-byte
    digest in an array, not a string in a set: a file of 100 000 claims costs under a megabyte."""

    def __init__(self, references: Iterable[str]):
        digests = array("Q", map(_digest, references))
        self.count = len(digests)
        ordered = sorted(digests)
        self._repeated = {digest for digest, following in pairwise(ordered) if digest == following}

    def __contains__(self, reference: object) -> bool:
        return isinstance(reference, str) and _digest(reference) in self._repeated


def _digest(reference: str) -> int:
    return int.from_bytes(hashlib.blake2b(reference.encode(), digest_size=8).digest(), "big")


# A claim's clinic in the file, when it has none it may have (said again in the reader's language).
CLINIC_OTHER = gettext_noop("Räkningen gäller klinik %(claim)s, men filen gäller klinik %(file)s.")
CLINIC_MISSING = gettext_noop(
    "Räkningen saknar Kliniknummer. I en fil för en organisation ska varje räkning ange sin klinik."
)
CLINIC_NOT_ALLOWED = gettext_noop("Du får inte fakturera för klinik %(number)s.")
CLINIC_OUTSIDE = gettext_noop(
    "Klinik %(number)s hör inte till %(organisation)s och kan inte faktureras i organisationens fil."
)

# The roles that may send a clinic's claims in a file: at the clinic, or at its umbrella organisation.
BILLING_ROLES = (ClinicRole.BILLER, ClinicRole.LOCAL_ADMIN)
ORGANISATION_BILLING_ROLES = (ClinicRole.BILLER,)


@dataclass(frozen=True)
class FileClinics:
    """Which clinic each claim of a file is for.

    A file's Huvud names one clinic (Kliniknummer: the upload's) or an umbrella organisation (Organisationsnummer:
    the upload's clinic's); in an organisation's file each Rakning names its clinic, which must be one of the
    organisation's active clinics that the person may bill for. Each claim is then checked and sent for its own
    clinic, as if it came in a file of that clinic alone."""

    clinic: Clinic  # the upload's
    organisation: Organisation | None = None
    allowed: dict[str, Clinic] | None = None  # by number: the clinics whose claims the file may carry
    refused: frozenset[str] = frozenset()  # the organisation's clinics the person may not bill for

    @property
    def clinics(self) -> list[Clinic]:
        return sorted((self.allowed or {}).values(), key=lambda clinic: clinic.pk)

    def clinic_of(self, claim: ParsedClaim) -> tuple[Clinic | None, Fault | None]:
        """The claim's clinic, or the fault that keeps it from having one (the claim is then left out)."""
        number = claim.clinic_number
        if self.organisation is None:
            if number and number != self.clinic.number:
                return None, Fault(
                    "clinic_other",
                    said(CLINIC_OTHER) % {"claim": number, "file": self.clinic.number},
                    "clinic",
                )
            return self.clinic, None
        if not number:
            return None, Fault(
                "clinic_missing",
                said(CLINIC_MISSING),
                "clinic",
            )
        clinic = (self.allowed or {}).get(number)
        if clinic is not None:
            return clinic, None
        if number in self.refused:
            return None, Fault(
                "clinic_not_allowed",
                said(CLINIC_NOT_ALLOWED) % {"number": number},
                "clinic",
            )
        return None, Fault(
            "clinic_outside_organisation",
            said(CLINIC_OUTSIDE) % {"number": number, "organisation": str(self.organisation)},
            "clinic",
        )


def file_clinics(*, upload: InvoiceFileUpload, header, actor: User) -> FileClinics:
    """The clinics a file of `upload` may carry claims for, as `actor` sends it; a header that names another
    clinic, or an organisation the upload's clinic is not part of, rejects the whole file."""
    clinic = upload.clinic
    if header.clinic_number:
        if header.clinic_number != clinic.number:
            raise InvoiceFileRejected(
                _("Filen gäller klinik %(file)s, men du laddar upp för klinik %(clinic)s.")
                % {"file": header.clinic_number, "clinic": clinic.number},
                code="other_clinic",
            )
        return FileClinics(clinic=clinic, allowed={clinic.number: clinic})
    organisation = (
        Organisation.objects.of_region(clinic.region_id).filter(pk=clinic.organisation_id).first()
        if clinic.organisation_id
        else None
    )
    if organisation is None or organisation.organisation_number != header.organisation_number:
        raise InvoiceFileRejected(
            _(
                "Filen gäller organisationsnummer %(file)s, men klinik %(clinic)s hör inte till någon "
                "paraplyorganisation med det numret."
            )
            % {"file": header.organisation_number, "clinic": clinic.number},
            code="other_organisation",
        )
    clinics = list(Clinic.objects.of_region(clinic.region_id).filter(organisation=organisation, is_active=True))
    whole = OrganisationMembership.objects.filter(
        user=actor, organisation=organisation, is_active=True, role__in=ORGANISATION_BILLING_ROLES
    ).exists()
    own = set(
        ClinicMembership.objects.of_clinics(clinics)
        .filter(user=actor, is_active=True, role__in=BILLING_ROLES)
        .values_list("clinic_id", flat=True)
    )
    # The upload's own clinic always: whoever uploaded there may bill for it (a journal system's API key included).
    allowed = {c.number: c for c in clinics if whole or c.pk in own or c.pk == clinic.pk}
    refused = frozenset(c.number for c in clinics if c.number not in allowed)
    return FileClinics(clinic=clinic, organisation=organisation, allowed=allowed, refused=refused)


def _open_claims(
    upload: InvoiceFileUpload, stored, *, actor: User, drafts: bool = True
) -> tuple[FileClinics, str, Iterator[ParsedClaim]]:
    """The file's clinics, Fakturareferens and claims (a stream); a whole-file fault raises."""
    parsed = parse_invoice_file(stored, max_bytes=MAX_FILE_SIZE, drafts=drafts)
    try:
        scope = file_clinics(upload=upload, header=parsed.header, actor=actor)
    except BaseException:
        parsed.close()
        raise
    return scope, str(parsed.header.invoice_reference).strip(), parsed.claims


@dataclass(frozen=True)
class _Survey:
    """What a first reading of the whole file tells: its header, how many claims, which references repeat, and
    which of the clinics it may carry it does (an organisation's file)."""

    invoice_reference: str
    claim_count: int
    repeated_references: RepeatedReferences
    clinics: list[Clinic]


def _survey(upload: InvoiceFileUpload) -> _Survey:
    """Read the whole file once, keeping only counts and digests, so that a fault of the whole file found at its
    very end rejects it before anything is stored, and a reference given twice is known at its first use."""
    present: set[str] = set()
    with upload.file.open("rb") as stored:
        scope, invoice_reference, claims = _open_claims(upload, stored, actor=upload.uploaded_by, drafts=False)
        allowed = scope.allowed or {}

        def references() -> Iterator[str]:
            for claim in claims:
                if claim.clinic_number in allowed:  # at most the organisation's clinics: memory stays flat
                    present.add(claim.clinic_number)
                yield claim.reference

        repeated = RepeatedReferences(references())
    clinics = [upload.clinic] if scope.organisation is None else [allowed[number] for number in sorted(present)]
    return _Survey(
        invoice_reference=invoice_reference,
        claim_count=repeated.count,
        repeated_references=repeated,
        clinics=clinics,
    )


def invoice_file_deadline_warnings(*, upload: InvoiceFileUpload, today: datetime.date) -> list[str]:
    """The file's visits whose billing deadline ends within days (`claims.validation.billing_deadline_warnings`),
    for the checked file's page: read from the stored file, as the check and the sending read it."""
    days: set[datetime.date] = set()
    if not upload.file:
        return []
    try:
        with upload.file.open("rb") as stored:
            _scope, _reference, claims = _open_claims(upload, stored, actor=upload.uploaded_by)
            for claim in claims:
                if claim.draft is not None:
                    days.update(claim.draft.visit_dates)
    except (InvoiceFileRejected, OSError):
        return []  # a file refused whole (its page says why) or gone: the warning is advice, never a failure
    return billing_deadline_warnings(region=upload.clinic.region, visit_dates=days, today=today)


@contextmanager
def _chunks(upload: InvoiceFileUpload, *, actor: User) -> Iterator[tuple[FileClinics, Iterator[list[ParsedClaim]]]]:
    """The file's claims, read again as a stream, CHUNK_SIZE at a time: memory does not grow with the file."""
    with upload.file.open("rb") as stored:
        scope, _reference, claims = _open_claims(upload, stored, actor=actor)
        yield scope, _batched(claims, CHUNK_SIZE)


class _Contexts(dict):
    """One ValidationContext per clinic of the file, made when its first claim comes: each claim is checked as
    its own clinic's (tariff, certificates, FHBs, deadlines, duplicates within the clinic's claims)."""

    def __init__(self, **options):
        super().__init__()
        self._options = options

    def of(self, clinic: Clinic) -> ValidationContext:
        context = self.get(clinic.pk)
        if context is None:
            context = self[clinic.pk] = ValidationContext(clinic=clinic, **self._options)
        return context


def _by_clinic(pairs: Iterable[tuple[Clinic, object]]) -> dict[int, tuple[Clinic, list]]:
    grouped: dict[int, tuple[Clinic, list]] = {}
    for clinic, item in pairs:
        grouped.setdefault(clinic.pk, (clinic, []))[1].append(item)
    return grouped


def _batched(items: Iterator[ParsedClaim], size: int) -> Iterator[list[ParsedClaim]]:
    while chunk := list(islice(items, size)):
        yield chunk


def invoice_file_check(*, upload: InvoiceFileUpload) -> InvoiceFileUpload:
    """Check every claim of the file and keep one row per fault. Run again it starts from zero; a finished
    check is left as it is."""
    with transaction.atomic():
        upload = InvoiceFileUpload.objects.select_for_update().select_related("clinic__region").get(pk=upload.pk)
        if not upload.is_checking:
            return upload
        upload.faults.all().delete()
        upload.started_at = timezone.now()
        upload.claim_count = upload.processed_count = upload.faulty_count = 0
        upload.failure_message = ""
        upload.first_visit_on = None
        INVOICE_FILE_TRANSITIONS.move(
            upload,
            InvoiceFileState.RUNNING,
            fields=[
                "started_at",
                "claim_count",
                "processed_count",
                "faulty_count",
                "failure_message",
                "first_visit_on",
            ],
        )

    try:
        survey = _survey(upload)
        # A file is one whole sending: its invoice number must be new, now and again when it is sent, at each of
        # the clinics it sends to (an organisation's file makes one invoice per clinic under the same number).
        for clinic in survey.clinics:
            fault = invoice_reference_fault(clinic=clinic, reference=survey.invoice_reference, may_join_open=False)
            if fault is not None:
                message = fault.message
                if len(survey.clinics) > 1 or survey.clinics[0] != upload.clinic:
                    message = _("Klinik %(clinic)s: %(message)s") % {"clinic": clinic.number, "message": message}
                raise InvoiceFileRejected(message, code=fault.code)
    except InvoiceFileRejected as rejected:
        _reject(upload, str(rejected.message))
        return upload
    upload.invoice_reference = survey.invoice_reference
    upload.claim_count = survey.claim_count
    upload.save(update_fields=["invoice_reference", "claim_count", "updated_at"])

    contexts = _Contexts(repeated_references=survey.repeated_references)
    with _chunks(upload, actor=upload.uploaded_by) as (scope, chunks):
        for chunk in chunks:
            placed = [(claim, *scope.clinic_of(claim)) for claim in chunk]
            for clinic, drafts in _by_clinic((c, claim.draft) for claim, c, _f in placed if c and claim.draft).values():
                contexts.of(clinic).prepare(drafts)
            faults = [
                (claim, _claim_faults(claim, clinic, clinic_fault, contexts, claim_validate))
                for claim, clinic, clinic_fault in placed
            ]
            _save_chunk(upload, scope.clinic.number, faults)

    with transaction.atomic():
        upload.finished_at = timezone.now()
        INVOICE_FILE_TRANSITIONS.move(upload, InvoiceFileState.CHECKED, fields=["finished_at"])
        _checked_event(upload)
    return upload


def _checked_event(upload: InvoiceFileUpload) -> None:
    """Tell the clinic's event stream that the file's check ended (checked or rejected), with its counts."""
    clinic_event_record(
        clinic=upload.clinic_id,
        kind=ClinicEventKind.INVOICE_FILE_CHECKED,
        obj=("invoice_file", upload.pk),
        data={
            "state": upload.state,
            "claim_count": upload.claim_count,
            "faulty_count": upload.faulty_count,
            "correct_count": upload.claim_count - upload.faulty_count,
        },
        actor=upload.uploaded_by,
    )


def _claim_faults(
    claim: ParsedClaim, clinic: Clinic | None, clinic_fault: Fault | None, contexts: _Contexts, claim_validate
) -> list[Fault]:
    faults = list(claim.faults)
    if clinic_fault is not None:
        faults.append(clinic_fault)
    elif claim.draft is not None:
        faults += claim_validate(clinic=clinic, draft=claim.draft, context=contexts.of(clinic))
    return faults


def _message_again(message: str) -> dict:
    """The msgid and values of a fault's message (portal.translation.Said), so the error list can be read in
    another language than the check's."""
    params = message.stored_params() if isinstance(message, Said) else None
    return {"message_id": message.msgid, "message_params": params} if params is not None else {}


@transaction.atomic
def _save_chunk(upload: InvoiceFileUpload, clinic_number: str, checked: list[tuple[ParsedClaim, list[Fault]]]) -> None:
    """A chunk's fault rows and the progress, in one transaction: a crash loses both alike."""
    InvoiceFileFault.objects.bulk_create(
        InvoiceFileFault(
            upload=upload,
            claim_index=claim.index,
            clinic_number=(claim.clinic_number or clinic_number)[:10],
            claim_reference=(claim.reference or "")[:100],
            personal_identity_number=(claim.personal_identity_number or "")[:40],
            code=fault.code[:60],
            message=fault.message,
            **_message_again(fault.message),
        )
        for claim, faults in checked
        for fault in faults
    )
    upload.processed_count += len(checked)
    upload.faulty_count += sum(1 for _claim, faults in checked if faults)
    first_visits = [
        min(claim.draft.visit_dates)
        for claim, faults in checked
        if not faults and claim.draft is not None and claim.draft.visit_dates
    ]
    if first_visits:
        upload.first_visit_on = min([*first_visits, upload.first_visit_on or min(first_visits)])
    upload.save(update_fields=["processed_count", "faulty_count", "first_visit_on", "updated_at"])


def _reject(upload: InvoiceFileUpload, message: str) -> None:
    with transaction.atomic():
        upload.faults.all().delete()
        upload.failure_message = message
        upload.claim_count = upload.processed_count = upload.faulty_count = 0
        upload.finished_at = timezone.now()
        INVOICE_FILE_TRANSITIONS.move(
            upload,
            InvoiceFileState.REJECTED,
            fields=["failure_message", "claim_count", "processed_count", "faulty_count", "finished_at"],
        )
        _checked_event(upload)


# Sending and discarding ------------------------------------------------------------------------------------


def invoice_file_send_start(*, actor: User, upload: InvoiceFileUpload) -> InvoiceFileUpload:
    """Ladda upp: queue the sending of a checked file's correct claims, once the request commits.

    A second click, while the claims are being sent or after, does nothing. A clinic that has not signed the
    region's agreement is refused (billing.services.AgreementUnsigned).
    """
    with transaction.atomic():
        upload = InvoiceFileUpload.objects.select_for_update().get(pk=upload.pk)
        if upload.state in (InvoiceFileState.SENDING, InvoiceFileState.SENT):
            return upload
        _refuse_unless_sendable(upload)
        agreement_gate(clinic=upload.clinic)
        upload.sent_by = actor
        upload.failure_message = ""
        INVOICE_FILE_TRANSITIONS.move(upload, InvoiceFileState.SENDING, fields=["sent_by", "failure_message"])
        upload_id = upload.pk
        transaction.on_commit(lambda: _enqueue_send(upload_id))
    return upload


def _refuse_unless_sendable(upload: InvoiceFileUpload) -> None:
    if upload.review_only:
        raise ValidationError(_("Filen laddades upp för granskning och kan inte skickas."), code="review_only")
    if upload.state not in (InvoiceFileState.CHECKED, InvoiceFileState.SENDING):
        raise ValidationError(_("Filen kan inte skickas i sin nuvarande status."), code="state")
    if upload.correct_count <= 0:
        raise ValidationError(_("Filen har inga korrekta räkningar att skicka."), code="nothing_to_send")


def _enqueue_send(upload_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from .tasks import send_invoice_file

    try:
        send_invoice_file.delay(upload_id)
    except BrokerUnavailable:
        logger.exception("invoice file %s could not be queued for sending", upload_id)
        invoice_file_send_failed(upload_id=upload_id)


def invoice_file_send(*, upload: InvoiceFileUpload) -> Invoice | None:
    """Send the file's correct claims as one invoice under its Fakturareferens: all of them or none.

    Run by the task `send_invoice_file` for an upload whose sending was asked for. The claims are validated
    again (something may have changed since the check) and stored a chunk at a time, in one transaction;
    `ValidationError` says why nothing was sent. Run twice, the second run answers the invoice already made.
    """
    with transaction.atomic():
        upload = (
            InvoiceFileUpload.objects.select_for_update(of=("self",))
            .select_related("clinic__region", "sent_by")
            .get(pk=upload.pk)
        )
        if upload.state == InvoiceFileState.SENT:
            return upload.invoice
        if upload.state != InvoiceFileState.SENDING:
            return None
        _refuse_unless_sendable(upload)
        actor = upload.sent_by
        invoices: dict[int, Invoice] = {}
        sent = 0
        try:
            faulty = set(upload.faults.values_list("claim_index", flat=True))
            # A reference given twice in the file made both claims faulty in the check: none of them is sent.
            contexts = _Contexts()
            with _chunks(upload, actor=actor) as (scope, chunks):
                # Every care lock before any invoice, in one order (the clinics' pks): two files of overlapping
                # clinics sent at once wait for each other instead of each holding what the other needs.
                for clinic in scope.clinics:
                    care_lock(clinic=clinic)
                for chunk in chunks:
                    sendable = []
                    for claim in chunk:
                        if claim.index in faulty or not claim.draft or claim.faults:
                            continue
                        clinic, fault = scope.clinic_of(claim)
                        if fault is not None:  # the sender may not bill for a clinic the uploader could
                            raise ClaimRejected([fault], reference=claim.reference)
                        sendable.append((clinic, claim.draft))
                    for clinic, drafts in _by_clinic(sendable).values():
                        invoice = invoices.get(clinic.pk)
                        if invoice is None:
                            invoice = invoices[clinic.pk] = invoice_for_claims(
                                actor=actor,
                                clinic=clinic,
                                reference=upload.invoice_reference,
                                source=InvoiceSource.FILE,
                                may_join_open=False,
                            )
                        context = contexts.of(clinic)
                        context.prepare(drafts)
                        sent += len(claims_submit(actor=actor, invoice=invoice, drafts=drafts, context=context))
        except InvoiceFileRejected as rejected:
            raise ValidationError(str(rejected.message), code="rejected") from rejected
        except ClaimRejected as rejected:
            # Something changed since the check (a reference used meanwhile, say): nothing is sent.
            reference = rejected.reference or upload.invoice_reference
            raise ValidationError(
                _("Räkningen %(reference)s kan inte längre skickas: %(faults)s Inget har skickats.")
                % {"reference": reference, "faults": " ".join(f.message for f in rejected.faults)},
                code="claim_rejected",
            ) from rejected
        if not invoices:
            raise ValidationError(_("Filen har inga korrekta räkningar att skicka."), code="nothing_to_send")
        # The upload's own clinic's invoice first: a file of one clinic has only that one.
        invoice = invoices.get(upload.clinic_id) or next(iter(invoices.values()))
        upload.invoice = invoice
        upload.sent_at = timezone.now()
        INVOICE_FILE_TRANSITIONS.move(upload, InvoiceFileState.SENT, fields=["invoice", "sent_at"])
        upload.invoices.set(invoices.values())
        audit_record(
            actor=actor,
            action=ClaimsAudit.INVOICE_FILE_SENT,
            obj=upload,
            after={
                "invoice": invoice.pk,
                "reference": invoice.reference,
                "claims": sent,
                **({"invoices": sorted(i.pk for i in invoices.values())} if len(invoices) > 1 else {}),
            },
            clinic=upload.clinic,
        )
    return invoice


def invoice_file_send_failed(*, upload_id: int, message: str | None = None) -> None:
    """Nothing was sent: the file is back to checked, with the reason on its page, and may be sent again."""
    INVOICE_FILE_TRANSITIONS.update(
        InvoiceFileUpload.objects.filter(pk=upload_id),
        InvoiceFileState.CHECKED,
        sources=[InvoiceFileState.SENDING],
        failure_message=str(message or SEND_FAILURE_MESSAGE),
        updated_at=timezone.now(),
    )


def invoice_file_discard(*, actor: User, upload: InvoiceFileUpload) -> InvoiceFileUpload:
    """Throw away a checked file's result (Tillbaka till filuppladdningen); a sent file stays sent."""
    with transaction.atomic():
        upload = InvoiceFileUpload.objects.select_for_update().get(pk=upload.pk)
        if upload.state != InvoiceFileState.CHECKED:
            return upload
        upload.faults.all().delete()
        INVOICE_FILE_TRANSITIONS.move(upload, InvoiceFileState.DISCARDED)
        audit_record(actor=actor, action=ClaimsAudit.INVOICE_FILE_DISCARDED, obj=upload, after={}, clinic=upload.clinic)
    return upload
