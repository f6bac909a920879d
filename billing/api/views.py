"""The resources of /api/v1/: each calls the selectors the web pages call, for the key's clinic."""

from __future__ import annotations

import datetime
import logging
import math
import uuid

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import APIView

from claims import tariffs
from claims.models import TariffVersion
from claims.selectors import patient_paid_in_year, prior_assessment_uses
from claims.validation import billing_deadline_text, last_billing_day
from eligibility import selectors as eligibility_selectors
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record
from portal.logs import REQUEST_ID_HEADER, request_id_of
from portal.middleware import SIGNED_IN_MAX_BODY_BYTES
from portal.service_windows import service_window_occurrences, service_window_relevant

from . import idempotency, serializers
from .body_limits import body_guard
from .problems import IdempotencyKeyReused, IdempotentRequestRunning, ServiceWindowClosed, problem_response
from .problems import request_language as _language

logger = logging.getLogger("tandportal.api")


PROBLEM_TEXTS = {
    400: "Fel i begäran (faults med pekare) / invalid request (faults with pointers)",
    401: "Nyckeln saknas, är okänd, återkallad eller utgången / missing, unknown, revoked or expired key",
    403: "Kliniken har inte signerat regionens avtal (type .../agreement-unsigned, agreement_url) / the clinic "
    "has not signed the region's agreement",
    404: "Finns inte / not found",
    409: "Krockar med status eller med ett pågående anrop (Idempotency-Key) / conflicts with the state or with a "
    "call still running (Idempotency-Key)",
    413: "För stort, se detail / too large, see detail",
    415: "Fel innehållstyp / unsupported media type",
    422: "Kan inte utföras: fel (faults med pekare) eller Idempotency-Key använd för ett annat anrop / cannot "
    "be done: faults (with pointers), or the Idempotency-Key used for another request",
    429: "För många anrop, se Retry-After / rate limited, see Retry-After",
    503: "Servicefönster, se Retry-After / service window, see Retry-After",
}


def problems(*codes: int) -> dict:
    """The problem answers of an operation, as application/problem+json."""
    return {
        (code, "application/problem+json"): OpenApiResponse(serializers.ProblemOut, description=PROBLEM_TEXTS[code])
        for code in codes
    }


class _IdempotentReplay(Exception):
    def __init__(self, response):
        super().__init__("replay")
        self.response = response


class ApiSchema(AutoSchema):
    """Every POST documents the optional Idempotency-Key header and its 409 and 422 problems."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "POST":
            parameters = [
                *parameters,
                OpenApiParameter(
                    idempotency.HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Valfri, högst 255 tecken: samma nyckel och kropp inom 24 timmar ger det första svaret igen "
                        "(Idempotent-Replayed: true). / Optional, at most 255 characters: the same key and body "
                        "within 24 hours answer the first result again (Idempotent-Replayed: true)."
                    ),
                ),
            ]
        return parameters

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        if self.method == "POST" and direction == "response":
            for (code, media_type), response in problems(400, 409, 422).items():
                if str(code) not in bodies:
                    bodies[str(code)] = self._get_response_for_code(response, str(code), [media_type], direction)
        return bodies


class ApiView(APIView):
    """Every API view: language from Accept-Language, X-Request-ID echoed, the clinic's service window as 503,
    and on every POST the Idempotency-Key (billing/api/idempotency.py)."""

    schema = ApiSchema()
    _idempotent_row = None

    # The largest body a caller with a valid key may send (billing/api/body_limits.py); a view taking files
    # declares its own.
    max_body_bytes = SIGNED_IN_MAX_BODY_BYTES

    @classmethod
    def as_view(cls, **initkwargs):
        view = super().as_view(**initkwargs)
        view.guard_body = body_guard(cls)  # GuardMiddleware asks it how much may be sent, before reading any
        return view

    def initial(self, request, *args, **kwargs):
        # Given by portal.logs.RequestIdMiddleware, which also answers it; made here if the view is called without.
        if not getattr(request._request, "request_id", None):
            request._request.request_id = request_id_of(request.META.get("HTTP_X_REQUEST_ID", ""))
        language = _language(request)
        translation.activate(language)
        request._request.LANGUAGE_CODE = language
        now = timezone.now()
        occurrences = service_window_occurrences(now, with_regions=False)
        self._refuse_during_window(now, occurrences, region_ids=set())  # the whole portal's, before the key
        super().initial(request, *args, **kwargs)
        self._refuse_during_window(now, occurrences, region_ids={request._request.clinic.region_id})
        if request.method == "POST":
            self._idempotency_begin(request)

    def _idempotency_begin(self, request) -> None:
        given = request.META.get(idempotency.META_KEY)
        if given is None:
            return
        if not given.strip() or len(given) > idempotency.MAX_LENGTH:
            message = _("Idempotency-Key ska vara 1–255 tecken.")
            raise exceptions.ValidationError([ErrorDetail(message, code="idempotency_key_invalid")])
        fingerprint = idempotency.request_fingerprint(request)
        row, created = idempotency.idempotent_request_begin(
            api_key=request.auth, idempotency_key=given, fingerprint=fingerprint
        )
        if created:
            self._idempotent_row = row
        elif row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(_("Idempotency-Key har redan använts för ett annat anrop."))
        elif row.status is None:
            raise IdempotentRequestRunning(_("Ett anrop med samma Idempotency-Key pågår. Försök igen om en stund."))
        else:
            raise _IdempotentReplay(idempotency.replay_response(row))

    def handle_exception(self, exc):
        if isinstance(exc, _IdempotentReplay):
            return exc.response
        return super().handle_exception(exc)

    def raise_uncaught_exception(self, exc):
        if self._idempotent_row is not None:
            idempotency.idempotent_request_forget(row=self._idempotent_row)
            self._idempotent_row = None
        super().raise_uncaught_exception(exc)

    def _refuse_during_window(self, now, occurrences, *, region_ids) -> None:
        running = [o for o in service_window_relevant(now, region_ids=region_ids, occurrences=occurrences)]
        running = [o for o in running if o.running(now)]
        if running:
            closing = max(running, key=lambda occurrence: occurrence.ends_at)
            raise ServiceWindowClosed(
                closing.message or _("Portalen har servicefönster."),
                retry_after=max(1, math.ceil((closing.ends_at - now).total_seconds())),
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        request_id = getattr(request._request, "request_id", None) or uuid.uuid4().hex
        response[REQUEST_ID_HEADER] = request_id
        response.setdefault("Content-Language", translation.get_language())  # a replay keeps the first's
        response["Cache-Control"] = "no-store, private"
        if self._idempotent_row is not None:
            idempotency.idempotent_request_finish(row=self._idempotent_row, response=response)
            self._idempotent_row = None
        key = getattr(request._request, "api_key", None)
        logger.info(
            "api %s %s %s key=%s request_id=%s",
            request.method,
            request.path,
            response.status_code,
            key.prefix if key else "-",
            request_id,
        )
        return response


def _certificate(certificate) -> dict:
    return {
        "number": certificate.number,
        "support_form": certificate.support_form,
        "group": certificate.group,
        "valid_from": certificate.valid_from,
        "valid_to": certificate.valid_to,
    }


class EligibilityCheckView(ApiView):
    """POST /api/v1/eligibility-checks: what Sök person shows, for a journal system."""

    @extend_schema(
        operation_id="eligibility_check",
        summary="Kontrollera rätt till stöd / Check eligibility",
        description=(
            "Intyg som gäller dagen, stödformer som kan faktureras och varför, avgiftsbefrielse, frikort, "
            "godkända förhandsbedömningar vid kliniken (godkänt · fakturerat · kvar), belopp utbetalt för "
            "patienten i år i regionen och sista dag att fakturera vård given den dagen. Personnumret skickas "
            "bara i kroppen, aldrig i adressen.\n\n"
            "Certificates valid on the date, the support forms that can be billed and why, fee exemptions, "
            "frikort, approved prior assessments at the clinic (approved · billed · left), the amount paid for "
            "the patient this year in the region and the last day care given that day may be billed. The "
            "personnummer travels in the body only, never in the URL. Amounts in öre."
        ),
        request=serializers.EligibilityCheckRequest,
        responses={(200, "application/json"): serializers.EligibilityCheckOut, **problems(400, 401, 429, 503)},
        tags=["eligibility"],
    )
    def post(self, request):
        body = serializers.EligibilityCheckRequest(data=request.data)
        body.is_valid(raise_exception=True)
        pin, on_date = body.validated_data["personnummer"], body.validated_data["date"]
        clinic, region = request._request.clinic, request._request.region
        eligibility = eligibility_selectors.eligibility_for(
            personal_identity_number=pin, clinic=clinic, on_date=on_date
        )
        access_log_record(
            request=request, personal_identity_number=pin, shown=AccessShown(AccessShownKind.API_ELIGIBILITY_CHECK)
        )
        uses = prior_assessment_uses(eligibility.prior_assessments)
        certificates = [o.certificate for o in eligibility.options if o.certificate is not None and o.allowed]
        free_card = eligibility.free_card
        return Response(
            {
                "date": on_date,
                "patient_known": eligibility.patient is not None,
                "certificates": [_certificate(c) for c in certificates],
                "support_forms": [
                    {
                        "support_form": o.support_form,
                        "name": str(o.label),
                        "allowed": o.allowed,
                        "reason": str(o.reason),
                        "requires_prior_assessment": o.requires_prior_assessment,
                        "certificate_number": o.certificate.number if o.certificate else None,
                    }
                    for o in eligibility.options
                ],
                "fee_exempt": eligibility.fee_exempt,
                "fee_exempt_reasons": [str(reason) for reason in eligibility.fee_exempt_reasons],
                "free_card": (
                    {"number": free_card.number, "valid_from": free_card.valid_from, "valid_to": free_card.valid_to}
                    if free_card
                    else None
                ),
                "prior_assessments": [
                    {
                        "number": a.number,
                        "support_form": a.support_form,
                        "valid_until": a.valid_until,
                        "approved": uses[a.pk].approved,
                        "billed": uses[a.pk].billed,
                        "left": uses[a.pk].left,
                    }
                    for a in eligibility.prior_assessments
                ],
                "paid_this_year": patient_paid_in_year(region=region, personal_identity_number=pin, year=on_date.year),
                "billing_deadline": last_billing_day(region=region, visit_date=on_date),
                "billing_deadline_rule": billing_deadline_text(region, on_date),
            }
        )


def _version(version: TariffVersion) -> dict:
    return {
        "name": version.name,
        "valid_from": version.valid_from,
        "valid_to": version.valid_to,
        "codes": [
            {
                "code": row.code,
                "description": row.description,
                "price": row.price,
                "entered_price": row.price is None,
                "requires": row.requires,
                "support_forms": list(row.support_forms),
                "requires_prior_assessment": row.requires_prior_assessment,
                "repeatable": row.repeatable,
            }
            for row in version.rows.order_by("code")
        ],
    }


TARIFF_DESCRIPTION = (
    "Regionens taxa: åtgärdskoder, pris i öre (null: kliniken anger priset), om tand eller käke krävs, vilka "
    "stödformer koden gäller, om förhandsbedömning krävs och om koden får upprepas samma dag.\n\n"
    "The region's tariff: codes, price in öre (null: the clinic enters the price), whether a tooth or jaw is "
    "required, the support forms the code is for, whether a prior assessment is needed and whether the code may "
    "be repeated the same day."
)


class TariffCurrentView(ApiView):
    @extend_schema(
        operation_id="tariff_current",
        summary="Taxan som gäller i dag / The tariff in force today",
        description=TARIFF_DESCRIPTION,
        responses={(200, "application/json"): serializers.TariffVersionOut, **problems(401, 404, 429, 503)},
        tags=["tariffs"],
    )
    def get(self, request):
        version = tariffs.tariff_current(region=request._request.region, day=timezone.localdate())
        if version is None:
            return problem_response(404, detail=_("Regionen har ingen taxa."))
        return Response(_version(version))


class TariffYearView(ApiView):
    @extend_schema(
        operation_id="tariff_year",
        summary="Taxorna under ett år / The tariffs of a year",
        description=TARIFF_DESCRIPTION,
        parameters=[OpenApiParameter("year", int, OpenApiParameter.PATH, description="1900–2100")],
        responses={(200, "application/json"): serializers.TariffYearOut, **problems(401, 404, 429, 503)},
        tags=["tariffs"],
    )
    def get(self, request, year: int):
        if not 1900 <= year <= 2100:
            return problem_response(404, detail=_("Ange ett år mellan 1900 och 2100."))
        first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        versions = (
            TariffVersion.objects.of_region(request._request.region)
            .filter(valid_from__lte=last)
            .exclude(valid_to__lt=first)
            .order_by("valid_from")
        )
        if not versions:
            return problem_response(404, detail=_("Regionen har ingen taxa det året."))
        return Response({"year": year, "versions": [_version(v) for v in versions]})
