"""GET /invoices and /payout-notices: Era fakturor and Utbetalningar for a journal system.

Read through the selectors the web's pages use (billing.selectors.clinic_invoice_list, invoice_summaries,
invoice_claims, payouts.selectors.clinic_payments, payouts.notices.notice_build), for the key's clinic only: another
clinic's invoice or notice is a 404. Lists page with an opaque cursor over (time, id), newest first: an invoice
that arrives while a journal system pages lands before the first page and never shifts the later ones, so nothing
is lost or listed twice.

As Era fakturor, an invoice is its figures over all its claims (amount, status, how many claims) and no claim: an
invoice of a file may hold ten thousand, so its claims come a page at a time from GET /invoices/{id}/claims (by
reference, with a cursor). A claim carries the patient's personnummer, so each page of claims is in the access
log, one entry per patient shown; an invoice or a payout notice holds no personnummer and is not logged.
"""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, Q, prefetch_related_objects
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from billing import selectors
from billing.selectors import InvoiceSearch, InvoiceSummary, InvoiceTab
from claims.models import Claim, ClaimState, Invoice, InvoiceSource
from payouts import notices
from payouts import selectors as payout_selectors
from payouts.models import PayoutInvoice, PayoutPayment
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record_many

from .cursors import Cursor, cursor_invalid
from .serializers import DATE_MESSAGES, TEXT_MESSAGES, PortalDateField, StrictSerializer
from .views import ApiView, problems

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


INVOICE_CURSOR = Cursor("invoices")
INVOICE_CLAIM_CURSOR = Cursor("invoice-claims")
NOTICE_CURSOR = Cursor("payout-notices")


# Query parameters -----------------------------------------------------------------------------------------------

LIMIT_MESSAGES = {
    "invalid": gettext_lazy("Ange ett heltal."),
    "max_string_length": gettext_lazy("Ange ett heltal."),
    "min_value": gettext_lazy("Ange minst {min_value}."),
    "max_value": gettext_lazy("Ange högst {max_value}."),
    "null": gettext_lazy("Fältet får inte vara null."),
}


class CursorQuery(StrictSerializer):
    """The paging of a list."""

    cursor = serializers.CharField(
        required=False,
        max_length=500,
        error_messages=TEXT_MESSAGES,
        help_text=(
            "next_cursor från förra sidan, oförändrad; utan: första sidan. / next_cursor of the previous page, "
            "unchanged; without: the first page."
        ),
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        default=DEFAULT_LIMIT,
        error_messages=LIMIT_MESSAGES,
        help_text=f"Antal per sida, 1–{MAX_LIMIT} (standard {DEFAULT_LIMIT}). / Per page, 1–{MAX_LIMIT}.",
    )


class PageQuery(CursorQuery):
    """The paging of a list, and the period (both days included; a day left out leaves that end open)."""

    period_help = ("", "")

    def get_fields(self):
        # `from` and `to` are Python keywords: declared here rather than as class attributes.
        fields = super().get_fields()
        sv, en = self.period_help
        fields["from"] = PortalDateField(
            required=False, error_messages=DATE_MESSAGES, help_text=f"Från och med {sv}, ÅÅÅÅ-MM-DD. / From {en}."
        )
        fields["to"] = PortalDateField(
            required=False, error_messages=DATE_MESSAGES, help_text=f"Till och med {sv}, ÅÅÅÅ-MM-DD. / To {en}."
        )
        return fields

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise ValidationError(
                {"to": [serializers.ErrorDetail(_("Slutdagen är före startdagen."), code="period_reversed")]}
            )
        return attrs


class InvoiceListQuery(PageQuery):
    period_help = ("dagen fakturan kom in (kreditfakturor: krediteringens dag)", "the day the invoice came in")

    status = serializers.ChoiceField(
        required=False,
        choices=list(InvoiceTab.ALL),
        error_messages={"invalid_choice": gettext_lazy("Välj received, paid, credits eller voided.")},
        help_text=(
            "Flik i Era fakturor: received (under behandling), paid (utbetalda), credits (kreditfakturor), "
            "voided (makulerade); utan: alla. / The tab of Era fakturor; without: every invoice."
        ),
    )
    reference = serializers.CharField(
        required=False,
        max_length=25,
        error_messages=TEXT_MESSAGES,
        help_text="OCR/Fakturanummer (exakt) / invoice number (exact)",
    )
    claim_reference = serializers.CharField(
        required=False,
        max_length=20,
        error_messages=TEXT_MESSAGES,
        help_text="Räkningsreferens, en av fakturans räkningar / a claim's reference",
    )
    our_reference = serializers.CharField(
        required=False,
        max_length=20,
        error_messages=TEXT_MESSAGES,
        help_text="Vår referens, regionens referens på utbetalningen / the region's reference on the payout",
    )


class NoticeListQuery(PageQuery):
    period_help = ("utbetalningsdagen", "the payout date")


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


# Answers --------------------------------------------------------------------------------------------------------


class StateOut(serializers.Serializer):
    code = serializers.ChoiceField(choices=ClaimState.choices)
    name = serializers.CharField(help_text="Statusens namn, på svenska eller engelska / the state's name")


class InvoiceClaimOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="Räkningsreferens / the claim's reference")
    personnummer = serializers.CharField(help_text="Patientens personnummer, 12 siffror / 12 digits")
    support_form = serializers.CharField(help_text="N, F, S")
    visit_dates = serializers.ListField(child=serializers.DateField(), help_text="Besöksdagar / visit dates")
    total = serializers.IntegerField(help_text="Totalsumma, öre / total, öre")
    patient_fee_total = serializers.IntegerField(help_text="Patientavgift, öre / patient fees, öre")
    state = StateOut()
    status = serializers.CharField(help_text="Status som Era fakturor visar den / as Era fakturor shows it")
    approved_on = serializers.DateField(allow_null=True)
    paid_on = serializers.DateField(allow_null=True, help_text="Utbetalningsdag / payout date")


class InvoiceCreditOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="Kreditfakturanummer / credit invoice number")
    amount = serializers.IntegerField(help_text="Krediterat belopp, öre / credited amount, öre")
    created_at = serializers.DateTimeField()


class InvoiceNoticeLinkOut(serializers.Serializer):
    id = serializers.IntegerField()
    payout_date = serializers.DateField()
    our_reference = serializers.CharField()
    amount = serializers.IntegerField(help_text="Fakturans belopp i utbetalningen, öre / öre")
    url = serializers.CharField()


class InvoiceOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="OCR/Fakturanummer / invoice number")
    received_at = serializers.DateTimeField(help_text="Inkom / received")
    source = serializers.ChoiceField(choices=InvoiceSource.values, help_text="web, file, api")
    status = serializers.CharField(help_text="Fakturans status som Era fakturor visar den / as Era fakturor shows it")
    claims_status = serializers.CharField(help_text="Räkningsstatus / the claims that stand out")
    amount = serializers.IntegerField(help_text="Belopp, öre (makulerade och raderade räkningar räknas inte) / öre")
    credited_amount = serializers.IntegerField(help_text="Krediterat, öre / credited, öre")
    our_reference = serializers.CharField(help_text="Vår referens (tom tills fakturan betalas) / empty until paid")
    payout_date = serializers.DateField(allow_null=True, help_text="Utbetalningsdatum / payout date")
    claim_count = serializers.IntegerField(help_text="Antal räkningar, alla statusar / the claims, every state")
    credits = InvoiceCreditOut(many=True)
    payout_notices = InvoiceNoticeLinkOut(many=True)
    url = serializers.CharField()
    claims_url = serializers.CharField(help_text="Fakturans räkningar, en sida i taget / its claims, paged")


class InvoicePageOut(serializers.Serializer):
    results = InvoiceOut(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="null: sista sidan / the last page")
    next = serializers.CharField(allow_null=True, help_text="Nästa sidas adress / the next page's URL")


class InvoiceClaimPageOut(serializers.Serializer):
    results = InvoiceClaimOut(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="null: sista sidan / the last page")
    next = serializers.CharField(allow_null=True, help_text="Nästa sidas adress / the next page's URL")


class NoticeLinksOut(serializers.Serializer):
    self = serializers.CharField()
    pdf = serializers.CharField()


class NoticeInvoiceRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    our_reference = serializers.CharField()
    amount = serializers.IntegerField(help_text="Öre / öre")


class NoticeSummaryOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="Utbetalningens id / the payment's id")
    payout_date = serializers.DateField(help_text="Utbetalningsdatum / payout date")
    sent_at = serializers.DateTimeField(help_text="När betalfilen gick till banken / when sent to the bank")
    account = serializers.CharField(help_text="Till: bankgiro eller plusgiro / to: the clinic's account")
    gross = serializers.IntegerField(help_text="Fakturerat, öre / billed, öre")
    set_off = serializers.IntegerField(help_text="Kvittade kreditfakturor, öre / credits set off, öre")
    net = serializers.IntegerField(help_text="Utbetalt belopp, öre / amount paid out, öre")
    our_references = serializers.ListField(child=serializers.CharField(), help_text="Vår referens per faktura")
    invoices = NoticeInvoiceRefOut(many=True)
    links = NoticeLinksOut()


class NoticePageOut(serializers.Serializer):
    results = NoticeSummaryOut(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="null: sista sidan / the last page")
    next = serializers.CharField(allow_null=True, help_text="Nästa sidas adress / the next page's URL")


class NoticeInvoiceOut(serializers.Serializer):
    reference = serializers.CharField(help_text="OCR/Fakturanummer")
    our_reference = serializers.CharField(help_text="Vår referens")
    claim_count = serializers.IntegerField(help_text="Räkningar / claims")
    amount = serializers.IntegerField(help_text="Belopp, öre / öre")


class NoticeClaimOut(serializers.Serializer):
    invoice_reference = serializers.CharField(help_text="OCR/Fakturanummer")
    reference = serializers.CharField(help_text="Räkningsreferens")
    amount = serializers.IntegerField(help_text="Belopp, öre / öre")


class NoticeSetOffOut(serializers.Serializer):
    credit_reference = serializers.CharField(help_text="Kreditfaktura")
    invoice_reference = serializers.CharField(help_text="Avser faktura / the credited invoice")
    amount = serializers.IntegerField(help_text="Kvittat, öre (positivt) / set off, öre (positive)")


class NoticeFactOut(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.CharField()


class NoticeOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(help_text="Utbetalningsbesked ÅÅÅÅ-MM-DD")
    payout_date = serializers.DateField()
    region = serializers.CharField()
    account = serializers.CharField(help_text="Till / to")
    facts = NoticeFactOut(many=True, help_text="Uppgifterna överst i beskedet / the notice's heading facts")
    invoices = NoticeInvoiceOut(many=True)
    claims = NoticeClaimOut(many=True)
    set_offs = NoticeSetOffOut(many=True)
    gross = serializers.IntegerField(help_text="Fakturerat, öre / billed, öre")
    set_off = serializers.IntegerField(help_text="Kvittade kreditfakturor, öre / credits set off, öre")
    net = serializers.IntegerField(help_text="Utbetalt belopp, öre / amount paid out, öre")
    links = NoticeLinksOut()


# Shaping --------------------------------------------------------------------------------------------------------


def _absolute(request, name: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


def _invoice(request, summary: InvoiceSummary) -> dict:
    invoice = summary.invoice
    return {
        "id": invoice.pk,
        "reference": invoice.reference,
        "received_at": invoice.received_at,
        "source": invoice.source,
        "status": summary.status,
        "claims_status": summary.claims_status,
        "amount": summary.amount,
        "credited_amount": summary.credited_amount,
        "our_reference": invoice.our_reference,
        "payout_date": invoice.payout_date,
        "claim_count": summary.claim_count,
        "credits": [
            {"id": c.pk, "reference": c.reference, "amount": c.total, "created_at": c.created_at}
            for c in summary.credits
        ],
        "payout_notices": [
            {
                "id": paid.payment_id,
                "payout_date": paid.payment.run.payout_date,
                "our_reference": paid.our_reference,
                "amount": paid.amount,
                "url": _absolute(request, "api_payout_notice", payment_pk=paid.payment_id),
            }
            for paid in invoice.payouts.all()
        ],
        "url": _absolute(request, "api_invoice", invoice_pk=invoice.pk),
        "claims_url": _absolute(request, "api_invoice_claims", invoice_pk=invoice.pk),
    }


def _claim(claim: Claim) -> dict:
    return {
        "id": claim.pk,
        "reference": claim.reference,
        "personnummer": claim.patient.personal_identity_number,
        "support_form": claim.support_form,
        "visit_dates": claim.visit_dates,
        "total": claim.total,
        "patient_fee_total": claim.patient_fee_total,
        "state": {"code": claim.state, "name": str(claim.get_state_display())},
        "status": str(claim.status_text),
        "approved_on": claim.approved_on,
        "paid_on": claim.paid_on,
    }


def _is_id(value: int) -> bool:
    """An id the database can hold (a bigger number in the path is a 404, not the database's overflow)."""
    return 1 <= value < 2**63


def _with_notices(invoices: list[Invoice]) -> None:
    """The notices that paid each invoice: only runs sent to the bank, as Utbetalningar lists them."""
    sent = (
        PayoutInvoice.objects.filter(payment__run__file_downloaded_at__isnull=False)
        .select_related("payment__run")
        .order_by("payment__run__payout_date", "pk")
    )
    prefetch_related_objects(invoices, Prefetch("payouts", queryset=sent))


def _summaries(invoices: list[Invoice]) -> list[InvoiceSummary]:
    """Each invoice's figures over all its claims (a grouped count, however many it holds) and its payout notices."""
    _with_notices(invoices)
    return selectors.invoice_summaries(invoices)


def _page(request, rows: list, limit: int, cursor: Cursor, position) -> dict:
    """The next page's cursor and URL (the other parameters kept) when `rows`, one more than `limit`, holds more."""
    more = len(rows) > limit
    next_cursor = cursor.dump(*position(rows[limit - 1])) if more else None
    next_url = None
    if next_cursor:
        query = request.query_params.copy()
        query["cursor"] = next_cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {"next_cursor": next_cursor, "next": next_url}


def _after_invoice(text: str) -> Q:
    received_at, pk = INVOICE_CURSOR.load(text)
    try:
        moment, number = datetime.datetime.fromisoformat(received_at), int(pk)
    except ValueError as error:
        raise cursor_invalid() from error
    return Q(received_at__lt=moment) | Q(received_at=moment, pk__lt=number)


def _after_notice(text: str) -> Q:
    payout_date, pk = NOTICE_CURSOR.load(text)
    try:
        day, number = datetime.date.fromisoformat(payout_date), int(pk)
    except ValueError as error:
        raise cursor_invalid() from error
    return Q(run__payout_date__lt=day) | Q(run__payout_date=day, pk__lt=number)


# Views ----------------------------------------------------------------------------------------------------------

INVOICE_DESCRIPTION = (
    "Fakturans belopp, status och räkningsstatus över alla dess räkningar, antal räkningar, Vår referens och "
    "utbetalningsdatum när den är betald, kreditfakturor och utbetalningsbeskeden som betalade den. Räkningarna "
    "själva (med personnummer) hämtas en sida i taget från claims_url, som när en faktura öppnas i Era fakturor.\n\n"
    "The invoice's amount, status and claims status over all its claims, how many claims it holds, Vår referens "
    "and the payout date once paid, credit invoices and the payout notices that paid it. The claims themselves "
    "(with personnummer) come a page at a time from claims_url, as when an invoice is opened in Era fakturor."
)


class InvoiceListView(ApiView):
    @extend_schema(
        operation_id="invoice_list",
        summary="Era fakturor / The clinic's invoices",
        description=(
            "Klinikens fakturor, nyast först, en sida i taget: skicka next_cursor som cursor för nästa sida. En "
            "faktura som kommer in medan du bläddrar hamnar före första sidan och flyttar inga andra. Filter som "
            "i Era fakturor: flik (status), OCR/Fakturanummer, räkningsreferens, Vår referens och period.\n\n"
            + INVOICE_DESCRIPTION.split("\n\n")[0]
            + "\n\nThe clinic's invoices, newest first, a page at a time: send next_cursor as cursor for the next "
            "page. An invoice that arrives while you page comes before the first page and moves no other. Filters "
            "as in Era fakturor: tab (status), invoice number, claim reference, Vår referens and period.\n\n"
            + INVOICE_DESCRIPTION.split("\n\n")[1]
        ),
        parameters=[InvoiceListQuery],
        responses={(200, "application/json"): InvoicePageOut, **problems(400, 401, 429, 503)},
        tags=["invoices"],
    )
    def get(self, request):
        query = _query(InvoiceListQuery, request)
        search = InvoiceSearch(
            date_from=query.get("from"),
            date_to=query.get("to"),
            reference=query.get("reference", "").strip(),
            claim_reference=query.get("claim_reference", "").strip(),
            our_reference=query.get("our_reference", "").strip(),
        )
        invoices = selectors.clinic_invoice_list(clinic=request._request.clinic, tab=query.get("status"), search=search)
        if query.get("cursor"):
            invoices = invoices.filter(_after_invoice(query["cursor"]))
        limit = query["limit"]
        rows = list(invoices[: limit + 1])
        summaries = _summaries(rows[:limit])
        page = _page(request, rows, limit, INVOICE_CURSOR, lambda i: (i.received_at.isoformat(), i.pk))
        return Response({"results": [_invoice(request, summary) for summary in summaries], **page})


class InvoiceDetailView(ApiView):
    @extend_schema(
        operation_id="invoice_detail",
        summary="En faktura / An invoice",
        description=INVOICE_DESCRIPTION,
        parameters=[OpenApiParameter("invoice_pk", int, OpenApiParameter.PATH, description="Fakturans id / id")],
        responses={(200, "application/json"): InvoiceOut, **problems(401, 404, 429, 503)},
        tags=["invoices"],
    )
    def get(self, request, invoice_pk: int):
        (summary,) = _summaries([_invoice_or_404(request, invoice_pk)])
        return Response(_invoice(request, summary))


def _invoice_or_404(request, invoice_pk: int) -> Invoice:
    clinic = request._request.clinic
    invoice = selectors.clinic_invoice(clinic=clinic, invoice_pk=invoice_pk) if _is_id(invoice_pk) else None
    if invoice is None:
        raise NotFound()
    return invoice


def _after_claim(text: str) -> str:
    reference, _pk = INVOICE_CLAIM_CURSOR.load(text)
    return reference


class InvoiceClaimsView(ApiView):
    @extend_schema(
        operation_id="invoice_claims",
        summary="En fakturas räkningar / An invoice's claims",
        description=(
            "Fakturans räkningar efter räkningsreferens, en sida i taget (skicka next_cursor som cursor): status "
            "(kod och namn), statustexten som Era fakturor visar, personnummer, stödform, besöksdagar, belopp i öre, "
            "godkänd- och utbetalningsdag. Räkningarna visar patientens personnummer, så varje sida skrivs i "
            "åtkomstloggen, en rad per patient, med nyckelns namn.\n\n"
            "The invoice's claims by reference, a page at a time (send next_cursor as cursor): state (code and name), "
            "the status text Era fakturor shows, personnummer, support form, visit dates, amounts in öre, approval and "
            "payout days. The claims show the patient's personnummer, so each page is written to the access log, one "
            "entry per patient, under the key's name."
        ),
        parameters=[
            OpenApiParameter("invoice_pk", int, OpenApiParameter.PATH, description="Fakturans id / id"),
            CursorQuery,
        ],
        responses={(200, "application/json"): InvoiceClaimPageOut, **problems(400, 401, 404, 429, 503)},
        tags=["invoices"],
    )
    def get(self, request, invoice_pk: int):
        invoice = _invoice_or_404(request, invoice_pk)
        query = _query(CursorQuery, request)
        after = _after_claim(query["cursor"]) if query.get("cursor") else None
        limit = query["limit"]
        claims = selectors.invoice_claims(
            clinic=request._request.clinic, invoice=invoice, after_reference=after, limit=limit + 1
        )
        shown = claims[:limit]
        if shown:
            access_log_record_many(
                request=request._request,
                personal_identity_numbers={claim.patient.personal_identity_number for claim in shown},
                shown=AccessShown(AccessShownKind.API_INVOICE_CLAIMS, reference=invoice.reference),
            )
        page = _page(request, claims, limit, INVOICE_CLAIM_CURSOR, lambda claim: (claim.reference, claim.pk))
        return Response({"results": [_claim(claim) for claim in shown], **page})


class NoticeListView(ApiView):
    @extend_schema(
        operation_id="payout_notice_list",
        summary="Utbetalningsbesked / Payout notices",
        description=(
            "Klinikens utbetalningar, senaste utbetalningsdatum först, en sida i taget (cursor som för fakturor): "
            "belopp i öre (fakturerat, kvittat, utbetalt), Vår referens per faktura och länkar till beskedet som "
            "JSON och PDF. Bara utbetalningar vars betalfil har gått till banken.\n\n"
            "The clinic's payouts, latest payout date first, a page at a time (cursor as for invoices): amounts in "
            "öre (billed, set off, paid out), Vår referens per invoice and links to the notice as JSON and PDF. "
            "Only payouts whose payment file has gone to the bank."
        ),
        parameters=[NoticeListQuery],
        responses={(200, "application/json"): NoticePageOut, **problems(400, 401, 429, 503)},
        tags=["payout-notices"],
    )
    def get(self, request):
        query = _query(NoticeListQuery, request)
        payments = payout_selectors.clinic_payments(clinic=request._request.clinic)
        if query.get("from"):
            payments = payments.filter(run__payout_date__gte=query["from"])
        if query.get("to"):
            payments = payments.filter(run__payout_date__lte=query["to"])
        if query.get("cursor"):
            payments = payments.filter(_after_notice(query["cursor"]))
        limit = query["limit"]
        rows = list(payments[: limit + 1])
        page = _page(request, rows, limit, NOTICE_CURSOR, lambda p: (p.run.payout_date.isoformat(), p.pk))
        return Response({"results": [_notice_summary(request, payment) for payment in rows[:limit]], **page})


def _links(request, payment: PayoutPayment) -> dict:
    return {
        "self": _absolute(request, "api_payout_notice", payment_pk=payment.pk),
        "pdf": _absolute(request, "api_payout_notice_pdf", payment_pk=payment.pk),
    }


def _notice_summary(request, payment: PayoutPayment) -> dict:
    paid = sorted(payment.invoices.all(), key=lambda row: row.our_reference)
    return {
        "id": payment.pk,
        "payout_date": payment.run.payout_date,
        "sent_at": payment.run.file_downloaded_at,
        "account": payment.account_display,
        "gross": payment.gross,
        "set_off": payment.set_off,
        "net": payment.net,
        "our_references": [row.our_reference for row in paid],
        "invoices": [
            {
                "id": row.invoice_id,
                "reference": row.invoice.reference,
                "our_reference": row.our_reference,
                "amount": row.amount,
            }
            for row in paid
        ],
        "links": _links(request, payment),
    }


def _payment_or_404(request, payment_pk: int) -> PayoutPayment:
    payment = (
        payout_selectors.clinic_payment(clinic=request._request.clinic, payment_pk=payment_pk)
        if _is_id(payment_pk)
        else None
    )
    if payment is None:
        raise NotFound()
    return payment


class NoticeDetailView(ApiView):
    @extend_schema(
        operation_id="payout_notice_detail",
        summary="Ett utbetalningsbesked / A payout notice",
        description=(
            "Beskedets rader som PDF:en visar dem: fakturor med Vår referens och antal räkningar, räkningarna "
            "med räkningsreferens, kvittade kreditfakturor och summorna, belopp i öre. Inga personnummer.\n\n"
            "The notice's rows as the PDF shows them: invoices with Vår referens and claim count, the claims by "
            "reference, credits set off and the totals, amounts in öre. No personnummer."
        ),
        parameters=[OpenApiParameter("payment_pk", int, OpenApiParameter.PATH, description="Utbetalningens id / id")],
        responses={(200, "application/json"): NoticeOut, **problems(401, 404, 429, 503)},
        tags=["payout-notices"],
    )
    def get(self, request, payment_pk: int):
        payment = _payment_or_404(request, payment_pk)
        notice = notices.notice_build(payment)
        return Response(
            {
                "id": payment.pk,
                "title": notice.title,
                "payout_date": payment.run.payout_date,
                "region": payment.run.region.name,
                "account": payment.account_display,
                "facts": [{"label": str(label), "value": value} for label, value in notice.facts()],
                "invoices": [vars(row) for row in notice.invoices],
                "claims": [vars(row) for row in notice.claims],
                "set_offs": [vars(row) for row in notice.set_offs],
                "gross": payment.gross,
                "set_off": payment.set_off,
                "net": payment.net,
                "links": _links(request, payment),
            }
        )


class PdfRenderer(renderers.BaseRenderer):
    """The notice as the web's PDF; an error on the way (404, 401 …) is still answered as problem+json."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return renderers.JSONRenderer().render(data, renderer_context=renderer_context)


class NoticePdfView(ApiView):
    renderer_classes = [PdfRenderer, renderers.JSONRenderer]

    @extend_schema(
        operation_id="payout_notice_pdf",
        summary="Utbetalningsbeskedet som PDF / The payout notice as PDF",
        description=(
            "Samma PDF som Utbetalningar i portalen och e-postmeddelandet ger, med filnamnet i "
            "Content-Disposition.\n\n"
            "The same PDF as the portal's Utbetalningar page and the e-mail, with its file name in "
            "Content-Disposition."
        ),
        parameters=[OpenApiParameter("payment_pk", int, OpenApiParameter.PATH, description="Utbetalningens id / id")],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF"),
            **problems(401, 404, 429, 503),
        },
        tags=["payout-notices"],
    )
    def get(self, request, payment_pk: int):
        payment = _payment_or_404(request, payment_pk)
        response = HttpResponse(notices.notice_pdf(notices.notice_build(payment)), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{notices.notice_file_name(payment, "pdf")}"'
        return response
