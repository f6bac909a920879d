"""/api/v1/invoice-files: the v1 invoice file (fakturafil) over the API, through the web upload's services and task.

POST stores the file as *Ladda upp fakturafil* does (`invoice_file_start`: size, content, the same file not twice)
and the check runs in the background (`billing.tasks.check_invoice_file`); GET follows it and gives the counts
and the error list (fellistan) as data, a page at a time; POST …/send sends the correct claims as *Ladda upp* on
the result page does. One file per clinic is checked at a time: a new file while another is being checked is
answered 429 with Retry-After, instead of waiting in a queue the journal system cannot see.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from billing import invoice_file_services as services
from billing.services import AgreementUnsigned
from claims.models import InvoiceFileFault, InvoiceFileState, InvoiceFileUpload
from portal import validators
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record_many
from portal.middleware import FORM_OVERHEAD_BYTES

from .idempotency import forget_key
from .problems import agreement_unsigned_response, problem_response
from .serializers import REQUIRED, StrictSerializer
from .views import ApiView, problems

# Seconds a journal system is asked to wait while another file of the clinic is being checked.
BUSY_RETRY_AFTER_SECONDS = 30
FAULTS_PAGE_DEFAULT = 500
FAULTS_PAGE_MAX = 1000
# The states in which the error list is the check's whole result (as the web's Kontrollresultat shows it).
FAULTS_SHOWN = (InvoiceFileState.CHECKED, InvoiceFileState.SENDING, InvoiceFileState.SENT)

UPLOAD_PATH_PARAMETER = OpenApiParameter(
    "upload_pk", int, OpenApiParameter.PATH, description="Filens id / the file's id"
)


class InvoiceFileIn(StrictSerializer):
    file = serializers.FileField(
        allow_empty_file=True,  # an empty file is the service's fault ("Filen är tom."), as on the web
        use_url=False,
        error_messages={
            "required": REQUIRED,
            "null": REQUIRED,
            "invalid": gettext_lazy("Skicka filen som en fil i multipart/form-data."),
            "no_name": gettext_lazy("Filen saknar filnamn."),
        },
        help_text="Fakturafilen (XML, version 1), högst 50 MB. / The invoice file (XML, version 1), at most 50 MB.",
    )
    review_only = serializers.BooleanField(
        default=False,
        help_text=(
            "Granska endast: filen kontrolleras men kan inte skickas. / Review only: the file is checked but "
            "cannot be sent."
        ),
    )


class FaultsQuery(serializers.Serializer):
    faults_after = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**62,
        help_text="Fellistans markör: faults_next ger den. / The error list's cursor, given by faults_next.",
    )
    faults_limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=FAULTS_PAGE_MAX,
        default=FAULTS_PAGE_DEFAULT,
        help_text=f"Fel per sida, högst {FAULTS_PAGE_MAX}. / Faults per page, at most {FAULTS_PAGE_MAX}.",
    )


class InvoiceFileCountsOut(serializers.Serializer):
    claims = serializers.IntegerField(help_text="Räkningar i filen / claims in the file")
    checked = serializers.IntegerField(help_text="Kontrollerade räkningar / claims checked so far")
    correct = serializers.IntegerField(
        allow_null=True, help_text="Korrekta räkningar (null under kontrollen) / correct claims (null while checking)"
    )
    with_faults = serializers.IntegerField(help_text="Räkningar med fel / claims with faults")


class InvoiceFileFaultOut(serializers.Serializer):
    claim = serializers.IntegerField(help_text="Räkningens plats i filen, från 1 / the claim's place in the file")
    claim_reference = serializers.CharField(help_text="Räkningsnummer / the claim's reference")
    personnummer = serializers.CharField(allow_blank=True)
    code = serializers.CharField(help_text="Felets kod / the fault's stable code")
    message = serializers.CharField(help_text="Felmeddelande / the fault's message")


class SentInvoiceOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()


class InvoiceFileOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="Jobbets adress / the job's URL")
    state = serializers.ChoiceField(choices=InvoiceFileState.choices)
    state_label = serializers.CharField()
    finished = serializers.BooleanField(help_text="Kontrollen eller sändningen är klar / nothing runs any more")
    original_name = serializers.CharField()
    size = serializers.IntegerField(help_text="Byte / bytes")
    review_only = serializers.BooleanField()
    invoice_reference = serializers.CharField(allow_blank=True, help_text="Fakturareferens")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(
        allow_blank=True, help_text="Varför filen avvisades eller inte kunde skickas / why it was refused"
    )
    counts = InvoiceFileCountsOut()
    can_send = serializers.BooleanField(help_text="Kan skickas med POST …/send / may be sent with POST …/send")
    invoice = SentInvoiceOut(allow_null=True, help_text="Fakturan filen skickades som / the invoice it was sent as")
    sent_at = serializers.DateTimeField(allow_null=True)
    faults_total = serializers.IntegerField(help_text="Fel i fellistan / faults in the error list")
    faults = InvoiceFileFaultOut(many=True)
    faults_next = serializers.CharField(allow_null=True, help_text="Nästa sida av fellistan / the next page")


class InvoiceFileStartedOut(InvoiceFileOut):
    earlier = serializers.BooleanField(
        help_text=(
            "Samma fil var redan uppladdad: den tidigare uppladdningen svaras. / The same file was uploaded "
            "before: that upload is answered."
        )
    )


def _job_url(upload: InvoiceFileUpload) -> str:
    return reverse("api_invoice_file", kwargs={"upload_pk": upload.pk})


def _upload_of_clinic(request, upload_pk: int) -> InvoiceFileUpload:
    # Another clinic's file is a 404, never a 403 that confirms it exists.
    return get_object_or_404(
        InvoiceFileUpload.objects.of_clinic(request._request.clinic).select_related("invoice"), pk=upload_pk
    )


def _answer(request, upload: InvoiceFileUpload, *, after: int | None = None, limit: int = FAULTS_PAGE_DEFAULT):
    """The upload as data, with a page of its error list; the personnummer shown are logged as the web's list."""
    shows_faults = upload.state in FAULTS_SHOWN
    faults: list[InvoiceFileFault] = []
    total = 0
    more = False
    if shows_faults:
        listed = upload.faults.order_by("id")
        total = listed.count()
        if after is not None:
            listed = listed.filter(id__gt=after)
        faults = list(listed[: limit + 1])
        more = len(faults) > limit
        faults = faults[:limit]
    pins = {validators.personal_identity_number_as_logged(f.personal_identity_number.strip()) for f in faults}
    pins -= {""}
    if pins:
        access_log_record_many(
            request=request, personal_identity_numbers=pins, shown=AccessShown(AccessShownKind.API_INVOICE_FILE_FAULTS)
        )
    waiting = upload.is_busy and not upload.is_stalled
    return {
        "id": upload.pk,
        "url": _job_url(upload),
        "state": upload.state,
        "state_label": str(upload.get_state_display()),
        "finished": not waiting,
        "original_name": upload.original_name,
        "size": upload.size,
        "review_only": upload.review_only,
        "invoice_reference": upload.invoice_reference,
        "created_at": upload.created_at,
        "finished_at": upload.finished_at,
        "message": _message(upload),
        "counts": {
            "claims": upload.claim_count,
            "checked": upload.processed_count,
            "correct": None if upload.is_checking else upload.correct_count,
            "with_faults": upload.faulty_count,
        },
        "can_send": upload.can_send,
        "invoice": {"id": upload.invoice.pk, "reference": upload.invoice.reference} if upload.invoice else None,
        "sent_at": upload.sent_at,
        "faults_total": total,
        "faults": [
            {
                "claim": f.claim_index,
                "claim_reference": f.claim_reference,
                "personnummer": f.personal_identity_number,
                "code": f.code,
                "message": f.text,
            }
            for f in faults
        ],
        "faults_next": (f"{_job_url(upload)}?faults_after={faults[-1].pk}&faults_limit={limit}" if more else None),
    }


def _message(upload: InvoiceFileUpload) -> str:
    """What the result page says in red: why the file was refused, or could not be checked or sent."""
    if upload.state == InvoiceFileState.FAILED:
        return upload.failure_message or str(services.FAILURE_MESSAGE)
    if upload.is_stalled:
        if upload.state == InvoiceFileState.SENDING:
            return str(services.SEND_FAILURE_MESSAGE)
        return str(services.FAILURE_MESSAGE)
    return upload.failure_message


class InvoiceFilesView(ApiView):
    """POST /api/v1/invoice-files: Ladda upp fakturafil."""

    parser_classes = [MultiPartParser]
    max_body_bytes = services.MAX_FILE_SIZE + FORM_OVERHEAD_BYTES

    @extend_schema(
        operation_id="invoice_file_upload",
        summary="Ladda upp en fakturafil / Upload an invoice file",
        description=(
            "Fakturafilen (XML, version 1) som multipart/form-data i fältet `file`, högst 50 MB. Filen kontrolleras "
            "i bakgrunden: svaret 202 har jobbets adress (Location) där status, antal och fellista hämtas. Samma fil "
            "en gång till svarar den tidigare uppladdningen (200, earlier: true) och skickas aldrig två gånger. En "
            "fil per klinik kontrolleras åt gången: medan en annan av klinikens filer kontrolleras svaras 429 med "
            "Retry-After.\n\n"
            "The invoice file (XML, version 1) as multipart/form-data in the field `file`, at most 50 MB. The file "
            "is checked in the background: the 202 answer carries the job's URL (Location), where its state, counts "
            "and error list are read. The same file again answers the earlier upload (200, earlier: true) and is "
            "never sent twice. One file per clinic is checked at a time: while another of the clinic's files is "
            "being checked the answer is 429 with Retry-After."
        ),
        request={"multipart/form-data": InvoiceFileIn},
        responses={
            (202, "application/json"): InvoiceFileStartedOut,
            (200, "application/json"): InvoiceFileStartedOut,
            **problems(400, 401, 413, 415, 422, 429, 503),
        },
        tags=["invoice-files"],
    )
    def post(self, request):
        body = InvoiceFileIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            started = services.invoice_file_start(
                actor=request.user,
                clinic=request._request.clinic,
                uploaded=body.validated_data["file"],
                review_only=body.validated_data["review_only"],
                one_at_a_time=True,
            )
        except services.ClinicFileBeingChecked:
            return problem_response(
                429,
                detail=_(
                    "En annan av klinikens fakturafiler kontrolleras. En fil per klinik kontrolleras åt gången: "
                    "försök igen om %(seconds)s sekunder."
                )
                % {"seconds": BUSY_RETRY_AFTER_SECONDS},
                headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
            )
        except ValidationError as error:
            return _refused(error)
        upload = started.upload
        return Response(
            {**_answer(request, upload), "earlier": started.earlier},
            status=200 if started.earlier else 202,
            headers={"Location": _job_url(upload)},
        )


def _refused(error: ValidationError) -> Response:
    """The upload's check refused the file: too large is 413, anything else (empty, not XML) 422."""
    faults = [
        {"code": item.code or "invalid", "message": message, "pointer": f"/{field}" if field != "__all__" else ""}
        for field, items in error.error_dict.items()
        for item in items
        for message in item.messages
    ]
    status = 413 if any(fault["code"] == "too_large" for fault in faults) else 422
    return problem_response(status, detail=" ".join(fault["message"] for fault in faults), faults=faults)


class InvoiceFileView(ApiView):
    """GET /api/v1/invoice-files/{id}: Kontrollresultat."""

    @extend_schema(
        operation_id="invoice_file_get",
        summary="En fakturafils kontroll och resultat / An invoice file's check and result",
        description=(
            "Status, hur långt kontrollen kommit, antal räkningar (korrekta, med fel) och fellistan: ett fel per "
            "rad med räkningens plats i filen, räkningsnummer, personnummer, kod och meddelande, som på sidan "
            "Kontrollresultat. Fellistan ges en sida åt gången (högst 1 000 fel, förval 500); `faults_next` är "
            "nästa sidas adress. Felmeddelandena är de som sparades vid kontrollen (svenska).\n\n"
            "The state, how far the check has come, the counts (correct claims, claims with faults) and the error "
            "list: one fault per row with the claim's place in the file, its reference, personnummer, code and "
            "message, as the Kontrollresultat page shows them. The error list comes a page at a time (at most "
            "1 000 faults, 500 unless asked); `faults_next` is the next page's URL. The messages are those stored "
            "by the check (Swedish)."
        ),
        parameters=[UPLOAD_PATH_PARAMETER, FaultsQuery],
        responses={(200, "application/json"): InvoiceFileOut, **problems(400, 401, 404, 429, 503)},
        tags=["invoice-files"],
    )
    def get(self, request, upload_pk: int):
        upload = _upload_of_clinic(request, upload_pk)
        query = FaultsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            _answer(
                request,
                upload,
                after=query.validated_data.get("faults_after"),
                limit=query.validated_data["faults_limit"],
            )
        )


class InvoiceFileSendView(ApiView):
    """POST /api/v1/invoice-files/{id}/send: Ladda upp (send the correct claims)."""

    @extend_schema(
        operation_id="invoice_file_send",
        summary="Skicka filens korrekta räkningar / Send the file's correct claims",
        description=(
            "Skickar filens korrekta räkningar som en faktura, som knappen Ladda upp på sidan Kontrollresultat: i "
            "bakgrunden, alla eller ingen. 202 medan de skickas, 200 när filen redan är skickad. 409 när filen inte "
            "kan skickas (granska endast, inte kontrollerad än, inga korrekta räkningar).\n\n"
            "Sends the file's correct claims as one invoice, as the Ladda upp button on the result page does: in "
            "the background, all or none. 202 while they are being sent, 200 when the file was already sent. 409 "
            "when the file cannot be sent (review only, not checked yet, no correct claims)."
        ),
        parameters=[UPLOAD_PATH_PARAMETER],
        request=None,
        responses={
            (202, "application/json"): InvoiceFileOut,
            (200, "application/json"): InvoiceFileOut,
            **problems(401, 403, 404, 409, 429, 503),
        },
        tags=["invoice-files"],
    )
    def post(self, request, upload_pk: int):
        upload = _upload_of_clinic(request, upload_pk)
        try:
            upload = services.invoice_file_send_start(actor=request.user, upload=upload)
        except ValidationError as error:
            faults = [{"code": error.code or "state", "message": message, "pointer": ""} for message in error.messages]
            return problem_response(409, detail=" ".join(error.messages), faults=faults)
        except AgreementUnsigned as refused:
            return forget_key(agreement_unsigned_response(request, refused))
        upload = InvoiceFileUpload.objects.select_related("invoice").get(pk=upload.pk)
        status = 200 if upload.state == InvoiceFileState.SENT else 202
        return Response(_answer(request, upload), status=status, headers={"Location": _job_url(upload)})
