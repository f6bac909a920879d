"""/api/v1/prior-assessments: förhandsbedömningar (FHB) over the API, through the web's services.

A request is multipart/form-data: the request itself as JSON in the part `request` (the fields of *Begär
förhandsbedömning*), and up to ten files in `attachments`, checked by content and size as the web's are
(`portal.uploads.check_attachment`). It is checked against the region's tariff by the one check the web form uses
(`billing.services.prior_assessment_request`); its faults come back as data with JSON pointers into the form:
`/request/lines/0/code`, `/request/patient_category`, `/attachments/1`. A komplettering the coordinator asked for
is answered with POST …/completions (`eligibility.services.prior_assessment_supply_information`).
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from billing.services import PriorAssessmentRejected, prior_assessment_request
from claims.drafts import Fault, LineDraft
from claims.selectors import prior_assessment_uses
from clinics.models import SupportForm
from eligibility import services as eligibility_services
from eligibility.forms import MAX_PLANNED_LINES
from eligibility.models import (
    Jaw,
    PriorAssessment,
    PriorAssessmentEventKind,
    PriorAssessmentState,
)
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record, access_log_record_many
from portal.uploads import MAX_ATTACHMENT_UPLOAD_BYTES, MAX_ATTACHMENTS_PER_UPLOAD, check_attachment

from .problems import problem_response
from .serializers import (
    NULL,
    REQUIRED,
    TEXT_MESSAGES,
    PersonalIdentityNumberField,
    PortalDateField,
    StrictSerializer,
)
from .views import ApiView, problems

LIST_PAGE_DEFAULT = 50
LIST_PAGE_MAX = 200
MAX_PRICE = 2_147_483_647  # öre; what the line's column holds
# Where a planned line's fault points: the part of the line `Fault.line_field` names.
LINE_FAULT_FIELDS = {"code": "code", "tooth": "tooth", "jaw": "jaw", "price": "estimated_price"}

CHOICE_MESSAGES = {
    "required": REQUIRED,
    "null": NULL,
    "invalid_choice": gettext_lazy("Värdet {input} finns inte att välja."),
}
INTEGER_MESSAGES = {
    "required": REQUIRED,
    "invalid": gettext_lazy("Ange ett heltal."),
    "min_value": gettext_lazy("Ange minst {min_value}."),
    "max_value": gettext_lazy("Ange högst {max_value}."),
    "max_string_length": gettext_lazy("Talet är för stort."),
}
FILE_MESSAGES = {
    "required": REQUIRED,
    "invalid": gettext_lazy("Skicka filen som en fil i multipart/form-data."),
    "no_name": gettext_lazy("Filen saknar filnamn."),
}
FILES_MESSAGES = {
    "not_a_list": gettext_lazy("Skicka filerna som filer i multipart/form-data."),
    "max_length": gettext_lazy("Högst {max_length} filer åt gången."),
}

ASSESSMENT_PATH_PARAMETER = OpenApiParameter(
    "assessment_pk", int, OpenApiParameter.PATH, description="Förhandsbedömningens id / the prior assessment's id"
)


# The request --------------------------------------------------------------------------------------------------


class PlannedLineIn(StrictSerializer):
    code = serializers.CharField(max_length=10, error_messages=TEXT_MESSAGES, help_text="Åtgärdskod / code")
    tooth = serializers.CharField(
        max_length=2, required=False, allow_blank=True, default="", error_messages=TEXT_MESSAGES, help_text="Tand"
    )
    jaw = serializers.ChoiceField(
        choices=["", *Jaw.values], required=False, default="", error_messages=CHOICE_MESSAGES, help_text="Käke: OK, UK"
    )
    estimated_price = serializers.IntegerField(
        min_value=0,
        max_value=MAX_PRICE,
        required=False,
        allow_null=True,
        default=None,
        error_messages=INTEGER_MESSAGES,
        help_text=(
            "Beräknat pris i öre, bara för åtgärder utan fast pris i taxan. / Estimated price in öre, only for "
            "codes without a fixed price in the tariff."
        ),
    )


class PriorAssessmentRequestIn(StrictSerializer):
    personnummer = PersonalIdentityNumberField()
    support_form = serializers.ChoiceField(
        choices=SupportForm.values, error_messages=CHOICE_MESSAGES, help_text="Stödform: N, F, S"
    )
    patient_category = serializers.CharField(
        max_length=10,
        required=False,
        allow_blank=True,
        default="",
        error_messages=TEXT_MESSAGES,
        help_text="Patientkategori (krävs för S) / patient category (required for S)",
    )
    planned_date = PortalDateField(
        required=False, help_text="Planerat behandlingsdatum, förval i dag / planned date, today unless given"
    )
    justification = serializers.CharField(max_length=5000, error_messages=TEXT_MESSAGES, help_text="Motivering")
    lines = PlannedLineIn(
        many=True,
        min_length=1,
        max_length=MAX_PLANNED_LINES,
        error_messages={
            "required": REQUIRED,
            "null": NULL,
            "not_a_list": gettext_lazy("Ange raderna som en lista."),
            "empty": gettext_lazy("Ange minst en planerad åtgärd."),
            "min_length": gettext_lazy("Ange minst en planerad åtgärd."),
            "max_length": gettext_lazy("Högst {max_length} planerade åtgärder."),
        },
    )


@extend_schema_field(
    {
        "type": "string",
        "contentMediaType": "application/json",
        "description": (
            "Förfrågan som JSON: personnummer, support_form (N, F, S), patient_category, planned_date (ÅÅÅÅ-MM-DD), "
            "justification, lines [{code, tooth, jaw (OK, UK), estimated_price (öre)}]. / The request as JSON, "
            "with those fields."
        ),
    }
)
class RequestPartField(serializers.Field):
    """The multipart part `request`: JSON, checked by `PriorAssessmentRequestIn` (its faults nest under it)."""

    default_error_messages = {
        "required": REQUIRED,
        "null": REQUIRED,
        "invalid": gettext_lazy("Delen request är inte giltig JSON."),
    }

    def to_internal_value(self, data):
        if hasattr(data, "read"):  # sent as a file part: its bytes
            data = data.read()
        try:
            parsed = json.loads(data)
        except (TypeError, ValueError, RecursionError):
            self.fail("invalid")
        body = PriorAssessmentRequestIn(data=parsed)
        if not body.is_valid():
            raise serializers.ValidationError(body.errors)
        return body.validated_data

    def to_representation(self, value):
        return value


def _attachments_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FileField(use_url=False, error_messages=FILE_MESSAGES),
        required=False,
        default=list,
        max_length=MAX_ATTACHMENTS_PER_UPLOAD,
        error_messages=FILES_MESSAGES,
        help_text=help_text,
    )


class PriorAssessmentFormIn(StrictSerializer):
    request = RequestPartField()
    attachments = _attachments_field(
        "Bilagor: jpg, jpeg, png, gif, pdf, doc, docx, xls, xlsx, högst 10 MB per fil och 10 filer. / "
        "Attachments: those types, at most 10 MB each and 10 files."
    )


class CompletionIn(StrictSerializer):
    text = serializers.CharField(
        max_length=5000,
        required=False,
        allow_blank=True,
        default="",
        error_messages=TEXT_MESSAGES,
        help_text="Kompletteringen / the answer",
    )
    attachments = _attachments_field("Bilagor, som vid förfrågan / attachments, as with the request")


class ListQuery(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=PriorAssessmentState.choices, required=False, error_messages=CHOICE_MESSAGES, help_text="Status"
    )
    after = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**62,
        error_messages=INTEGER_MESSAGES,
        help_text="Markören, ges av next / the cursor, given by next",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=LIST_PAGE_MAX,
        default=LIST_PAGE_DEFAULT,
        error_messages=INTEGER_MESSAGES,
        help_text=f"Per sida, högst {LIST_PAGE_MAX} / per page, at most {LIST_PAGE_MAX}",
    )


# The answers ----------------------------------------------------------------------------------------------------


class PlannedLineOut(serializers.Serializer):
    position = serializers.IntegerField()
    code = serializers.CharField()
    tooth = serializers.CharField(allow_blank=True)
    jaw = serializers.CharField(allow_blank=True)
    estimated_price = serializers.IntegerField(help_text="Öre")
    approved = serializers.BooleanField(allow_null=True, help_text="null: inte beslutad / not decided")
    approved_amount = serializers.IntegerField(allow_null=True, help_text="Godkänt belopp, öre / approved, öre")


class DecisionOut(serializers.Serializer):
    decided_at = serializers.DateTimeField()
    valid_until = serializers.DateField(allow_null=True, help_text="Giltig till / valid until")
    message = serializers.CharField(help_text="Samordnarens motivering / the coordinator's reasons")
    approved_total = serializers.IntegerField(help_text="Godkänt, öre / approved, öre")


class UsesOut(serializers.Serializer):
    approved = serializers.IntegerField(help_text="Godkänt, öre / approved, öre")
    billed = serializers.IntegerField(help_text="Fakturerat, öre / billed, öre")
    left = serializers.IntegerField(help_text="Kvar, öre / left, öre")


class AttachmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    version = serializers.IntegerField()


class PriorAssessmentEventOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PriorAssessmentEventKind.values)
    label = serializers.CharField()
    text = serializers.CharField(allow_blank=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class PriorAssessmentDetailOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    number = serializers.CharField(help_text="FHB-nummer")
    state = serializers.ChoiceField(choices=PriorAssessmentState.choices)
    state_label = serializers.CharField()
    personnummer = serializers.CharField()
    support_form = serializers.CharField()
    patient_category = serializers.CharField(allow_blank=True)
    planned_date = serializers.DateField(allow_null=True)
    justification = serializers.CharField(allow_blank=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    estimated_total = serializers.IntegerField(help_text="Öre")
    lines = PlannedLineOut(many=True)
    decision = DecisionOut(allow_null=True)
    uses = UsesOut(allow_null=True, help_text="Godkänt · fakturerat · kvar (godkända) / approved · billed · left")
    information_requested = serializers.CharField(
        allow_null=True, help_text="Samordnarens begäran om komplettering / the coordinator's question"
    )
    information_deadline = serializers.DateField(allow_null=True, help_text="Komplettera senast / answer by")
    attachments = AttachmentOut(many=True)
    events = PriorAssessmentEventOut(many=True, help_text="Historik / history")


class PriorAssessmentSummaryOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    number = serializers.CharField()
    state = serializers.ChoiceField(choices=PriorAssessmentState.choices)
    personnummer = serializers.CharField()
    support_form = serializers.CharField()
    created_at = serializers.DateTimeField()
    valid_until = serializers.DateField(allow_null=True)


class PriorAssessmentPageOut(serializers.Serializer):
    results = PriorAssessmentSummaryOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="Nästa sida / the next page")


def _url(assessment: PriorAssessment) -> str:
    return reverse("api_prior_assessment", kwargs={"assessment_pk": assessment.pk})


def _of_clinic(request, assessment_pk: int) -> PriorAssessment:
    # Another clinic's request is a 404, never a 403 that confirms it exists.
    return get_object_or_404(
        PriorAssessment.objects.of_clinic(request._request.clinic).select_related("patient", "patient_category"),
        pk=assessment_pk,
    )


def _answer(request, assessment: PriorAssessment) -> dict:
    """The request, its decision and its use, as the web's page shows them; logged as the page's reading is."""
    access_log_record(
        request=request,
        personal_identity_number=assessment.patient.personal_identity_number,
        shown=AccessShown(AccessShownKind.API_PRIOR_ASSESSMENT, number=assessment.number),
    )
    lines = list(assessment.lines.all())
    events = list(assessment.events.all())
    requested = [e for e in events if e.kind == PriorAssessmentEventKind.INFORMATION_REQUESTED]
    awaiting = assessment.state == PriorAssessmentState.AWAITING_INFORMATION
    decided = assessment.decided_at is not None
    uses = prior_assessment_uses([assessment])[assessment.pk] if assessment.is_approved else None
    return {
        "id": assessment.pk,
        "url": _url(assessment),
        "number": assessment.number,
        "state": assessment.state,
        "state_label": str(assessment.get_state_display()),
        "personnummer": assessment.patient.personal_identity_number,
        "support_form": assessment.support_form,
        "patient_category": assessment.patient_category.code if assessment.patient_category else "",
        "planned_date": assessment.planned_date,
        "justification": assessment.justification,
        "version": assessment.version,
        "created_at": assessment.created_at,
        "estimated_total": sum(line.estimated_price for line in lines),
        "lines": [
            {
                "position": line.position,
                "code": line.code,
                "tooth": line.tooth,
                "jaw": line.jaw,
                "estimated_price": line.estimated_price,
                "approved": line.approved,
                "approved_amount": line.approved_amount,
            }
            for line in lines
        ],
        "decision": (
            {
                "decided_at": assessment.decided_at,
                "valid_until": assessment.valid_until,
                "message": assessment.decision_reason,
                "approved_total": sum(line.approved_amount or 0 for line in lines if line.approved),
            }
            if decided
            else None
        ),
        "uses": {"approved": uses.approved, "billed": uses.billed, "left": uses.left} if uses else None,
        "information_requested": requested[-1].text if awaiting and requested else None,
        "information_deadline": assessment.information_deadline,
        "attachments": [
            {"id": a.pk, "name": a.original_name, "content_type": a.content_type, "size": a.size, "version": a.version}
            for a in assessment.attachments.all()
        ],
        "events": [
            {
                "kind": e.kind,
                "label": str(e.get_kind_display()),
                "text": e.text,
                "version": e.version,
                "created_at": e.created_at,
            }
            for e in events
        ],
    }


def _fault_pointer(fault: Fault) -> str:
    if fault.line is not None:
        part = LINE_FAULT_FIELDS.get(fault.line_field)
        return f"/request/lines/{fault.line}" + (f"/{part}" if part else "")
    return f"/request/{fault.field}" if fault.field else "/request"


def _attachment_faults(files: list) -> list[dict]:
    """Each file checked by content and size as the web's are, before anything is stored: every refused file's
    fault, pointing at its place among the attachments."""
    faults = []
    for index, uploaded in enumerate(files):
        try:
            check_attachment(uploaded)
        except ValidationError as error:
            faults += [
                {"code": error.code or "invalid", "message": message, "pointer": f"/attachments/{index}"}
                for message in error.messages
            ]
    return faults


def _service_faults(error: ValidationError, *, prefix: str = "") -> list[dict]:
    if hasattr(error, "error_dict"):
        return [
            {"code": item.code or "invalid", "message": message, "pointer": f"{prefix}/{field}"}
            for field, items in error.error_dict.items()
            for item in items
            for message in item.messages
        ]
    return [
        {"code": item.code or "invalid", "message": message, "pointer": prefix}
        for item in error.error_list
        for message in item.messages
    ]


def _unprocessable(faults: list[dict]) -> Response:
    return problem_response(422, detail=_("Förfrågan har fel. Rätta dem och skicka igen."), faults=faults)


MULTIPART_NOTE = (
    "\n\nInnehållet är multipart/form-data. Pekarna i faults pekar in i formuläret: /request/lines/0/code är "
    "första radens åtgärdskod i JSON-delen request, /attachments/1 den andra bilagan. / The body is "
    "multipart/form-data. The faults' pointers point into the form: /request/lines/0/code is the first line's "
    "code in the JSON part request, /attachments/1 the second attachment."
)


class PriorAssessmentsView(ApiView):
    """POST /api/v1/prior-assessments: Begär förhandsbedömning; GET: the clinic's list."""

    parser_classes = [MultiPartParser]
    max_body_bytes = MAX_ATTACHMENT_UPLOAD_BYTES

    @extend_schema(
        operation_id="prior_assessment_request",
        summary="Begär förhandsbedömning / Request a prior assessment",
        description=(
            "Förfrågan som JSON i delen `request` och bilagor i `attachments`. De planerade åtgärderna kontrolleras "
            "mot regionens taxa på det planerade datumet, som i formuläret Begär förhandsbedömning: 201 med "
            "förhandsbedömningen, eller 422 med felen (kod, meddelande, pekare).\n\n"
            "The request as JSON in the part `request` and attachments in `attachments`. The planned lines are "
            "checked against the region's tariff on the planned date, as the web form checks them: 201 with the "
            "prior assessment, or 422 with the faults (code, message, pointer)." + MULTIPART_NOTE
        ),
        request={"multipart/form-data": PriorAssessmentFormIn},
        responses={
            (201, "application/json"): PriorAssessmentDetailOut,
            **problems(400, 401, 413, 415, 422, 429, 503),
        },
        tags=["prior-assessments"],
    )
    def post(self, request):
        form = PriorAssessmentFormIn(data=request.data)
        form.is_valid(raise_exception=True)
        data, files = form.validated_data["request"], form.validated_data["attachments"]
        faults = _attachment_faults(files)
        if faults:
            return _unprocessable(faults)
        planned_date = data.get("planned_date") or timezone.localdate()
        try:
            assessment = prior_assessment_request(
                actor=request.user,
                clinic=request._request.clinic,
                personal_identity_number=data["personnummer"],
                support_form=data["support_form"],
                patient_category=data["patient_category"],
                planned_date=planned_date,
                justification=data["justification"],
                lines=[
                    LineDraft(
                        visit_date=planned_date,
                        code=line["code"].strip(),
                        tooth=line["tooth"].strip(),
                        jaw=line["jaw"],
                        price=line["estimated_price"],
                    )
                    for line in data["lines"]
                ],
                attachments=files,
            )
        except PriorAssessmentRejected as rejected:
            return _unprocessable(
                [{"code": f.code, "message": f.message, "pointer": _fault_pointer(f)} for f in rejected.faults]
            )
        except ValidationError as error:
            return _unprocessable(_service_faults(error, prefix="/request"))
        assessment = _of_clinic(request, assessment.pk)
        return Response(_answer(request, assessment), status=201, headers={"Location": _url(assessment)})

    @extend_schema(
        operation_id="prior_assessment_list",
        summary="Klinikens förhandsbedömningar / The clinic's prior assessments",
        description=(
            "Nyast först, en sida åt gången (förval 50, högst 200); `next` är nästa sidas adress. Filtrera med "
            "`state`.\n\nNewest first, a page at a time (50 unless asked, at most 200); `next` is the next page's "
            "URL. Filter with `state`."
        ),
        parameters=[ListQuery],
        responses={(200, "application/json"): PriorAssessmentPageOut, **problems(400, 401, 429, 503)},
        tags=["prior-assessments"],
    )
    def get(self, request):
        query = ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        listed = PriorAssessment.objects.of_clinic(request._request.clinic).select_related("patient").order_by("-id")
        if "state" in query.validated_data:
            listed = listed.filter(state=query.validated_data["state"])
        if "after" in query.validated_data:
            listed = listed.filter(id__lt=query.validated_data["after"])
        page = list(listed[: limit + 1])
        more = len(page) > limit
        page = page[:limit]
        pins = {assessment.patient.personal_identity_number for assessment in page}
        if pins:
            access_log_record_many(
                request=request,
                personal_identity_numbers=pins,
                shown=AccessShown(AccessShownKind.API_PRIOR_ASSESSMENTS),
            )
        following = None
        if more:
            state = query.validated_data.get("state")
            following = f"{reverse('api_prior_assessments')}?after={page[-1].pk}&limit={limit}"
            following += f"&state={state}" if state else ""
        return Response(
            {
                "results": [
                    {
                        "id": a.pk,
                        "url": _url(a),
                        "number": a.number,
                        "state": a.state,
                        "personnummer": a.patient.personal_identity_number,
                        "support_form": a.support_form,
                        "created_at": a.created_at,
                        "valid_until": a.valid_until,
                    }
                    for a in page
                ],
                "next": following,
            }
        )


class PriorAssessmentView(ApiView):
    """GET /api/v1/prior-assessments/{id}: the request, its decision and what is billed against it."""

    @extend_schema(
        operation_id="prior_assessment_get",
        summary="En förhandsbedömning med beslut / A prior assessment and its decision",
        description=(
            "Status, de planerade åtgärderna med beslutet per rad (godkänt belopp i öre), giltig till, samordnarens "
            "motivering, godkänt · fakturerat · kvar, en begärd komplettering, bilagor och historik.\n\n"
            "The state, the planned lines with each line's decision (approved amount in öre), valid until, the "
            "coordinator's reasons, approved · billed · left, a requested komplettering, attachments and history."
        ),
        parameters=[ASSESSMENT_PATH_PARAMETER],
        responses={(200, "application/json"): PriorAssessmentDetailOut, **problems(401, 404, 429, 503)},
        tags=["prior-assessments"],
    )
    def get(self, request, assessment_pk: int):
        return Response(_answer(request, _of_clinic(request, assessment_pk)))


class PriorAssessmentCompletionsView(ApiView):
    """POST /api/v1/prior-assessments/{id}/completions: Komplettera."""

    parser_classes = [MultiPartParser]
    max_body_bytes = MAX_ATTACHMENT_UPLOAD_BYTES

    @extend_schema(
        operation_id="prior_assessment_complete",
        summary="Komplettera en förhandsbedömning / Answer a request for more information",
        description=(
            "Svar på samordnarens begäran om komplettering: text och/eller bilagor. 409 när ingen komplettering är "
            "begärd.\n\nThe answer to the coordinator's request for more information: text and/or attachments. 409 "
            "when no komplettering is requested." + MULTIPART_NOTE.replace("/request/lines/0/code", "/text")
        ),
        parameters=[ASSESSMENT_PATH_PARAMETER],
        request={"multipart/form-data": CompletionIn},
        responses={
            (200, "application/json"): PriorAssessmentDetailOut,
            **problems(400, 401, 404, 409, 413, 415, 422, 429, 503),
        },
        tags=["prior-assessments"],
    )
    def post(self, request, assessment_pk: int):
        assessment = _of_clinic(request, assessment_pk)
        if assessment.state != PriorAssessmentState.AWAITING_INFORMATION:
            return _not_awaiting(assessment)
        body = CompletionIn(data=request.data)
        body.is_valid(raise_exception=True)
        files = body.validated_data["attachments"]
        faults = _attachment_faults(files)
        if faults:
            return _unprocessable(faults)
        try:
            eligibility_services.prior_assessment_supply_information(
                actor=request.user, assessment=assessment, text=body.validated_data["text"], attachments=files
            )
        except ValidationError as error:
            if getattr(error, "code", None) == "state":  # answered or written off meanwhile
                return _not_awaiting(assessment)
            return _unprocessable(_service_faults(error))
        return Response(_answer(request, _of_clinic(request, assessment_pk)))


def _not_awaiting(assessment: PriorAssessment) -> Response:
    message = _("Ingen komplettering är begärd för förhandsbedömning %(number)s (status %(state)s).") % {
        "number": assessment.number,
        "state": assessment.get_state_display(),
    }
    return problem_response(
        409, detail=message, faults=[{"code": "no_completion_requested", "message": message, "pointer": ""}]
    )
