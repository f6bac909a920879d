"""/api/v1/claims: a claim as the web form takes it (Registrera räkning), read back, listed, deleted (Radera) and
credited (Kreditera), through the same services and the one validation as the form and the invoice file.

The body's types are checked here (a 400 with pointers); whether the claim may be paid is only
`claims.validation`'s to say: its `Fault`s come back as a 422 with each fault's code, its message (in the
language asked for, as the form shows it) and a JSON pointer into the body built from where the fault is.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response

from billing.services import AgreementUnsigned, claim_credit, claim_submit
from claims import services as claim_services
from claims.drafts import ClaimDraft, Fault, FreeCardDraft, LineDraft
from claims.models import Claim, ClaimLine, ClaimState, InvoiceSource
from claims.selectors import claim_status
from claims.services import ClaimRejected
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record, access_log_record_many

from .cursors import Cursor, cursor_invalid
from .idempotency import forget_key
from .problems import agreement_unsigned_response, problem_response
from .serializers import TEXT_MESSAGES, PortalDateField, StrictSerializer
from .views import ApiView, problems

MAX_VISITS = 100
MAX_LINES = 200  # as the web form (billing.claim_forms.MAX_LINES)
LIST_LIMIT = 100
LIST_MAX_LIMIT = 500
# Generous bounds for what is text: the validation's own limits (reference 20, comment 500 …) give its faults.
TEXT_LIMIT = 1000
NUMBER_MESSAGES = {
    "required": TEXT_MESSAGES["required"],
    "null": TEXT_MESSAGES["null"],
    "invalid": gettext_lazy("Ange ett heltal."),
    "max_value": gettext_lazy("Ange högst {max_value}."),
    "min_value": gettext_lazy("Ange minst {min_value}."),
    "max_string_length": gettext_lazy("Talet är för stort."),
}
LIST_MESSAGES = {
    "required": TEXT_MESSAGES["required"],
    "null": TEXT_MESSAGES["null"],
    "not_a_list": gettext_lazy("Ange en lista."),
    "max_length": gettext_lazy("Ange högst {max_length} poster."),
}


def _text(**kwargs):
    kwargs.setdefault("max_length", TEXT_LIMIT)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("trim_whitespace", False)
    return serializers.CharField(error_messages=TEXT_MESSAGES, **kwargs)


def _optional_text(help_text: str, **kwargs):
    return _text(required=False, default="", help_text=help_text, **kwargs)


def _integer(**kwargs):
    kwargs.setdefault("min_value", -(2**31))
    kwargs.setdefault("max_value", 2**31 - 1)
    return serializers.IntegerField(error_messages=NUMBER_MESSAGES, **kwargs)


# Bodies -----------------------------------------------------------------------------------------------------------


class LineIn(StrictSerializer):
    code = _text(max_length=300, help_text="Åtgärdskod ur taxan, t.ex. 101 / tariff code, e.g. 101")
    tooth = _optional_text("Tand (FDI), bara om åtgärden kräver det / tooth (FDI), only where the code needs one")
    jaw = _optional_text("Käke OK eller UK, bara om åtgärden kräver det / jaw OK or UK, where the code needs one")
    price = _integer(
        required=False,
        allow_null=True,
        default=None,
        help_text="Pris i öre, bara där kliniken anger priset / price in öre, only for codes with an entered price",
    )
    comment = _optional_text("Kommentar till Tandvårdssamordning / comment to the coordinator")


class VisitIn(StrictSerializer):
    date = PortalDateField(help_text="Åtgärdsdatum / day of the visit, YYYY-MM-DD")
    patient_fee = _integer(
        required=False,
        allow_null=True,
        default=None,
        help_text="Patientavgift för besöket i öre (0: ingen); utelämnad: inte angiven / the visit's patient fee in "
        "öre (0: none); left out: not given",
    )
    lines = serializers.ListField(child=LineIn(), max_length=MAX_LINES, error_messages=LIST_MESSAGES)


class FreeCardIn(StrictSerializer):
    number = _text(help_text="Frikortets nummer / the free card's number")
    valid_from = PortalDateField()
    valid_to = PortalDateField()


class ClaimIn(StrictSerializer):
    personnummer = _text(max_length=40, help_text="Patientens personnummer / the patient's personal identity number")
    support_form = _text(max_length=10, help_text="N, F eller S / N, F or S")
    reference = _text(help_text="Räkningsreferens: unik för kliniken, 1–20 tecken / the claim's own reference")
    invoice_reference = _text(
        help_text="OCR/Fakturanummer: räkningar med samma nummer samma dag hamnar på en faktura / the invoice number: "
        "claims sent the same day with the same number join one invoice"
    )
    certificate_number = _optional_text("Intygsnummer (valfritt) / certificate number (optional)")
    care_model = _optional_text("Vårdmodell (N-tandvård) / care model (N)")
    patient_category = _optional_text("Patientkategori (S-tandvård) / patient category (S)")
    prior_assessment_number = _optional_text("Förhandsbedömningens nummer (FHB-ÅÅÅÅ-NNNNNN) / prior assessment")
    free_card = FreeCardIn(required=False, allow_null=True, default=None)
    comment = _optional_text("Räkningskommentar / the claim's comment")
    remaining_teeth = _integer(required=False, allow_null=True, default=None, help_text="Kvarvarande tänder")
    intact_teeth = _integer(required=False, allow_null=True, default=None, help_text="Intakta tänder")
    visits = serializers.ListField(child=VisitIn(), max_length=MAX_VISITS, error_messages=LIST_MESSAGES)

    def validate_visits(self, visits):
        seen: set[datetime.date] = set()
        errors: list = []
        for visit in visits:
            if visit["date"] in seen:
                errors.append({"date": [ErrorDetail(_("Ange varje besöksdag en gång."), code="visit_repeated")]})
            else:
                errors.append({})
            seen.add(visit["date"])
        if any(errors):
            raise ValidationError(errors)
        if sum(len(visit["lines"]) for visit in visits) > MAX_LINES:
            raise ValidationError(_("Ange högst %(count)s åtgärder.") % {"count": MAX_LINES}, code="too_many_lines")
        return visits


class CreditIn(StrictSerializer):
    line_ids = serializers.ListField(
        child=_integer(min_value=1),
        required=False,
        allow_null=True,
        default=None,
        max_length=MAX_LINES,
        error_messages=LIST_MESSAGES,
        help_text="Åtgärdernas id; utelämnad: hela räkningen / the lines' ids; left out: the whole claim",
    )


class ClaimListQuery(StrictSerializer):
    updated_since = serializers.DateTimeField(
        required=False,
        error_messages={"invalid": gettext_lazy("Ange tiden som ISO 8601, t.ex. 2026-03-01T08:00:00+01:00.")},
    )
    cursor = _text(required=False, max_length=200)
    limit = _integer(required=False, min_value=1, max_value=LIST_MAX_LIMIT, default=LIST_LIMIT)


# Answers ----------------------------------------------------------------------------------------------------------


class LineOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    tooth = serializers.CharField()
    jaw = serializers.CharField()
    amount = serializers.IntegerField(help_text="Öre / öre")
    comment = serializers.CharField()
    credited = serializers.BooleanField()


class VisitOut(serializers.Serializer):
    date = serializers.DateField()
    patient_fee = serializers.IntegerField(allow_null=True, help_text="Öre / öre")
    lines = LineOut(many=True)


class InvoiceRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="OCR/Fakturanummer / invoice number")
    source = serializers.CharField(help_text="web, file, api")


class ClaimOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="Räkningsreferens / the claim's reference")
    state = serializers.ChoiceField(choices=ClaimState.choices)
    state_label = serializers.CharField(help_text="Status i portalens ord / the state in the portal's words")
    status_text = serializers.CharField(help_text="Som Era fakturor visar den / as Era fakturor shows it")
    invoice = InvoiceRefOut()
    personnummer = serializers.CharField()
    support_form = serializers.CharField()
    certificate_number = serializers.CharField()
    care_model = serializers.CharField()
    patient_category = serializers.CharField()
    prior_assessment_number = serializers.CharField()
    comment = serializers.CharField()
    remaining_teeth = serializers.IntegerField(allow_null=True)
    intact_teeth = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(help_text="Att betala ut, öre (patientavgiften avdragen) / to be paid, öre")
    patient_fee_total = serializers.IntegerField(help_text="Patientavgifter, öre / patient fees, öre")
    approved_on = serializers.DateField(allow_null=True)
    paid_on = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    visits = VisitOut(many=True)


class ClaimPageOut(serializers.Serializer):
    results = ClaimOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.CharField(allow_null=True, help_text="Nästa sida / the next page")


class CreditLineOut(serializers.Serializer):
    line_id = serializers.IntegerField()
    amount = serializers.IntegerField(help_text="Öre / öre")


class CreditOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="Kreditfakturanummer / credit invoice number")
    total = serializers.IntegerField(help_text="Öre / öre")
    claim = ClaimOut()
    lines = CreditLineOut(many=True)


# From the body to the draft, and from a fault to its place in the body -------------------------------------------


def claim_draft(data: dict) -> ClaimDraft:
    """The body as a `ClaimDraft`: the visits' lines in order, each visit's patient fee where one is given."""
    lines = [
        LineDraft(
            visit_date=visit["date"],
            code=line["code"].strip(),
            tooth=line["tooth"].strip(),
            jaw=line["jaw"].strip(),
            price=line["price"],
            comment=line["comment"].strip(),
        )
        for visit in data["visits"]
        for line in visit["lines"]
    ]
    free_card = data["free_card"]
    return ClaimDraft(
        personal_identity_number=data["personnummer"].strip(),
        support_form=data["support_form"].strip(),
        reference=data["reference"].strip(),
        lines=lines,
        patient_fees={
            visit["date"]: visit["patient_fee"] for visit in data["visits"] if visit["patient_fee"] is not None
        },
        certificate_number=data["certificate_number"].strip(),
        care_model=data["care_model"].strip(),
        patient_category=data["patient_category"].strip(),
        prior_assessment_number=data["prior_assessment_number"].strip(),
        free_card=(
            FreeCardDraft(free_card["number"].strip(), free_card["valid_from"], free_card["valid_to"])
            if free_card
            else None
        ),
        comment=data["comment"].strip(),
        remaining_teeth=data["remaining_teeth"],
        intact_teeth=data["intact_teeth"],
    )


# A fault's draft field → the body's field.
FIELD_POINTERS = {
    "personal_identity_number": "/personnummer",
    "support_form": "/support_form",
    "reference": "/reference",
    "invoice_reference": "/invoice_reference",
    "certificate_number": "/certificate_number",
    "care_model": "/care_model",
    "patient_category": "/patient_category",
    "prior_assessment_number": "/prior_assessment_number",
    "free_card": "/free_card",
    "comment": "/comment",
    "remaining_teeth": "/remaining_teeth",
    "intact_teeth": "/intact_teeth",
    "lines": "/visits",
    "patient_fees": "/visits",
}


def fault_pointer(fault: Fault, visits: list[dict]) -> str:
    """Where in the body a fault is: a line's part (/visits/0/lines/1/tooth), a visit's fee
    (/visits/0/patient_fee), a visit (/visits/0), or the claim's field (/care_model)."""
    if fault.line is not None:
        index = 0
        for visit_index, visit in enumerate(visits):
            if fault.line < index + len(visit["lines"]):
                pointer = f"/visits/{visit_index}/lines/{fault.line - index}"
                return f"{pointer}/{fault.line_field}" if fault.line_field else pointer
            index += len(visit["lines"])
    if fault.visit_date is not None:
        for visit_index, visit in enumerate(visits):
            if visit["date"] == fault.visit_date:
                suffix = "/patient_fee" if fault.field == "patient_fees" else ""
                return f"/visits/{visit_index}{suffix}"
    return FIELD_POINTERS.get(fault.field, "")


def faults_out(faults: list[Fault], visits: list[dict]) -> list[dict]:
    return [
        {"code": fault.code, "message": str(fault.message), "pointer": fault_pointer(fault, visits)} for fault in faults
    ]


# Reading ----------------------------------------------------------------------------------------------------------


def _claims_of(clinic):
    return (
        Claim.objects.of_clinic(clinic)
        .select_related("invoice", "patient", "certificate", "care_model", "patient_category", "prior_assessment")
        .prefetch_related(Prefetch("lines", queryset=ClaimLine.objects.select_related("credit")))
    )


def claim_out(claim: Claim) -> dict:
    by_day: dict[datetime.date, list] = defaultdict(list)
    fees: dict[datetime.date, int] = {}
    for line in sorted(claim.lines.all(), key=lambda line: (line.visit_date, line.position)):
        if line.is_patient_fee:
            fees[line.visit_date] = fees.get(line.visit_date, 0) - line.amount
            by_day.setdefault(line.visit_date, [])
            continue
        by_day[line.visit_date].append(
            {
                "id": line.pk,
                "code": line.code,
                "tooth": line.tooth,
                "jaw": line.jaw,
                "amount": line.amount,
                "comment": line.comment,
                "credited": hasattr(line, "credit"),
            }
        )
    return {
        "id": claim.pk,
        "reference": claim.reference,
        "state": claim.state,
        "state_label": str(claim.get_state_display()),
        "status_text": str(claim_status(claim)),
        "invoice": {"id": claim.invoice_id, "number": claim.invoice.reference, "source": claim.invoice.source},
        "personnummer": claim.patient.personal_identity_number,
        "support_form": claim.support_form,
        "certificate_number": claim.certificate.number if claim.certificate else "",
        "care_model": claim.care_model.code if claim.care_model else "",
        "patient_category": claim.patient_category.code if claim.patient_category else "",
        "prior_assessment_number": claim.prior_assessment.number if claim.prior_assessment else "",
        "comment": claim.comment,
        "remaining_teeth": claim.remaining_teeth,
        "intact_teeth": claim.intact_teeth,
        "total": claim.total,
        "patient_fee_total": -claim.patient_fee_total,
        "approved_on": claim.approved_on,
        "paid_on": claim.paid_on,
        "created_at": claim.created_at,
        "updated_at": claim.updated_at,
        "visits": [
            {"date": day, "patient_fee": fees.get(day), "lines": lines} for day, lines in sorted(by_day.items())
        ],
    }


def _claim_url(claim: Claim) -> str:
    return reverse("api_claim", kwargs={"claim_pk": claim.pk})


CLAIM_CURSOR = Cursor("claims")


def _after_claim(text: str) -> tuple[datetime.datetime, int]:
    when, pk = CLAIM_CURSOR.load(text)
    try:
        return datetime.datetime.fromisoformat(when), int(pk)
    except ValueError as error:
        raise cursor_invalid() from error


CLAIM_ID = OpenApiParameter("claim_pk", int, OpenApiParameter.PATH, description="Räkningens id / the claim's id")


# Views ------------------------------------------------------------------------------------------------------------


class ClaimListView(ApiView):
    @extend_schema(
        operation_id="claim_create",
        summary="Skicka en räkning / Send a claim",
        description=(
            "En räkning som Registrera räkning tar den: patient, stödform, referenser, besök med åtgärder och "
            "patientavgift, tandhälsa. Kontrolleras av samma validering som webbformuläret och fakturafilen. "
            "Räkningar med samma OCR/fakturanummer samma dag läggs på samma faktura så länge den är under "
            "behandling. 201 med den sparade räkningen, eller 422 med felen (faults: code, message, pointer).\n\n"
            "One claim as the web form takes it: patient, support form, references, visits with lines and patient "
            "fee, tooth health. Checked by the same validation as the web form and the invoice file. Claims sent "
            "the same day with the same invoice number join one invoice while it is under behandling. 201 with "
            "the stored claim, or 422 with the faults (code, message, pointer). Amounts in öre."
        ),
        request=ClaimIn,
        responses={
            (201, "application/json"): ClaimOut,
            **problems(400, 401, 403, 422, 429, 503),
        },
        tags=["claims"],
    )
    def post(self, request):
        body = ClaimIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            claim = claim_submit(
                actor=request.user,
                clinic=request._request.clinic,
                invoice_reference=data["invoice_reference"],
                draft=claim_draft(data),
                source=InvoiceSource.API,
            )
        except ClaimRejected as rejected:
            return problem_response(
                422, detail=_("Rätta felen och skicka igen."), faults=faults_out(rejected.faults, data["visits"])
            )
        except AgreementUnsigned as refused:
            return forget_key(agreement_unsigned_response(request, refused))
        if "lines" not in getattr(claim, "_prefetched_objects_cache", {}):
            claim = _claims_of(request._request.clinic).get(pk=claim.pk)
        # Else the claim as just stored, with its lines (claims.services): what GET /claims/{id} reads back.
        return Response(claim_out(claim), status=201, headers={"Location": _claim_url(claim)})

    @extend_schema(
        operation_id="claim_list",
        summary="Räkningar ändrade sedan / Claims changed since",
        description=(
            "Klinikens räkningar i ordning efter senaste ändring (updated_at, id), äldst först. Hämta nästa sida "
            "med next_cursor (opak); en tom sida betyder att allt är hämtat för stunden. För att följa "
            "ändringar utan att missa någon: använd händelseflödet /events.\n\n"
            "The clinic's claims in order of last change (updated_at, id), oldest first. Fetch the next page with "
            "next_cursor (opaque); an empty page means all has been fetched for now."
        ),
        parameters=[
            OpenApiParameter(
                "updated_since", datetime.datetime, description="ISO 8601, t.ex. / e.g. 2026-03-01T08:00:00+01:00"
            ),
            OpenApiParameter("cursor", str, description="next_cursor ur förra svaret / from the last answer"),
            OpenApiParameter("limit", int, description=f"1–{LIST_MAX_LIMIT}, {LIST_LIMIT} om inget anges"),
        ],
        responses={(200, "application/json"): ClaimPageOut, **problems(400, 401, 429, 503)},
        tags=["claims"],
    )
    def get(self, request):
        query = ClaimListQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        claims = _claims_of(request._request.clinic).order_by("updated_at", "id")
        if "updated_since" in params:
            claims = claims.filter(updated_at__gte=params["updated_since"])
        if params.get("cursor"):
            moment, pk = _after_claim(params["cursor"])
            claims = claims.filter(updated_at__gte=moment).exclude(updated_at=moment, id__lte=pk)
        limit = params["limit"]
        page = list(claims[: limit + 1])
        more, page = len(page) > limit, page[:limit]
        if page:
            access_log_record_many(
                request=request,
                personal_identity_numbers=[claim.patient.personal_identity_number for claim in page],
                shown=AccessShown(AccessShownKind.API_CLAIMS),
            )
        cursor = CLAIM_CURSOR.dump(page[-1].updated_at.isoformat(), page[-1].pk) if more else None
        following = None
        if cursor:
            following = f"{reverse('api_claims')}?cursor={cursor}&limit={limit}"
        return Response({"results": [claim_out(c) for c in page], "next_cursor": cursor, "next": following})


def _clinic_claim(request, claim_pk: int) -> Claim:
    return get_object_or_404(_claims_of(request._request.clinic), pk=claim_pk)


class ClaimDetailView(ApiView):
    @extend_schema(
        operation_id="claim_get",
        summary="En räkning / A claim",
        description=(
            "Räkningens status, belopp, faktura och åtgärder. En annan kliniks räkning: 404.\n\n"
            "The claim's state, amounts, invoice and lines. Another clinic's claim: 404."
        ),
        parameters=[CLAIM_ID],
        responses={(200, "application/json"): ClaimOut, **problems(401, 404, 429, 503)},
        tags=["claims"],
    )
    def get(self, request, claim_pk: int):
        claim = _clinic_claim(request, claim_pk)
        access_log_record(
            request=request,
            personal_identity_number=claim.patient.personal_identity_number,
            shown=AccessShown(AccessShownKind.API_CLAIM, reference=claim.reference),
        )
        return Response(claim_out(claim))

    @extend_schema(
        operation_id="claim_delete",
        summary="Radera en räkning / Delete a claim",
        description=(
            "Som Radera: bara en räkning under behandling (mottagen eller under granskning). Den sparas, markerad "
            "raderad. En räkning i annan status: 409. Redan raderad: samma svar igen.\n\n"
            "As Radera: only a claim under behandling (received or under review). It is kept, marked deleted. A "
            "claim in another state: 409. Deleted already: the same answer again."
        ),
        parameters=[CLAIM_ID],
        responses={(200, "application/json"): ClaimOut, **problems(401, 404, 409, 429, 503)},
        tags=["claims"],
    )
    def delete(self, request, claim_pk: int):
        claim = _clinic_claim(request, claim_pk)
        try:
            claim_services.claim_delete(actor=request.user, claim=claim)
        except DjangoValidationError as error:
            return problem_response(409, detail=" ".join(error.messages))
        return Response(claim_out(_clinic_claim(request, claim_pk)))


class ClaimCreditView(ApiView):
    @extend_schema(
        operation_id="claim_credit",
        summary="Kreditera en räkning / Credit a claim",
        description=(
            "Som Kreditera: en utbetald räkning, hela (utan line_ids) eller valda åtgärder. Patientavgiften följer "
            "med den kredit som lämnar ingen åtgärd okrediterad. Inte utbetald eller redan krediterad: 409; "
            "åtgärder som inte kan väljas: 422.\n\n"
            "As Kreditera: a paid claim, whole (no line_ids) or chosen lines. The patient fee goes with the credit "
            "that leaves no line uncredited. Not paid or credited already: 409; lines that cannot be chosen: 422."
        ),
        parameters=[CLAIM_ID],
        request=CreditIn,
        responses={(201, "application/json"): CreditOut, **problems(400, 401, 404, 409, 422, 429, 503)},
        tags=["claims"],
    )
    def post(self, request, claim_pk: int):
        claim = _clinic_claim(request, claim_pk)
        body = CreditIn(data=request.data)
        body.is_valid(raise_exception=True)
        line_ids = body.validated_data["line_ids"]
        try:
            credit = claim_credit(actor=request.user, claim=claim, line_ids=line_ids)
        except DjangoValidationError as error:
            if hasattr(error, "error_dict"):
                faults = [
                    {"code": item.code or "invalid", "message": message, "pointer": f"/{name}"}
                    for name, items in error.error_dict.items()
                    for item in items
                    for message in item.messages
                ]
                return problem_response(422, detail=_("Rätta felen och skicka igen."), faults=faults)
            return problem_response(409, detail=" ".join(error.messages))
        claim = _clinic_claim(request, claim_pk)
        return Response(
            {
                "id": credit.pk,
                "reference": credit.reference,
                "total": credit.total,
                "claim": claim_out(claim),
                "lines": [
                    {"line_id": line.claim_line_id, "amount": line.amount}
                    for line in credit.lines.order_by("claim_line__position")
                ],
            },
            status=201,
            headers={"Location": _claim_url(claim)},
        )
