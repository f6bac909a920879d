"""Era fakturor: the clinic's invoices by tab, search, paging and export; a claim's lines; delete and credit.

A list page shows each invoice's figures over all its claims (amount, status, Räkningsstatus, how many claims)
and no claim: an invoice's claims are fetched when its row is opened (`invoice_claims`, its first
EXPANDED_CLAIMS; without JavaScript the row links to the invoice's own page, which pages them all). So a list page
shows no personnummer and logs none, except the one searched for; each page that shows claims writes the access
log, one entry per patient shown. A personnummer is only ever searched by POST, never put in a URL. Every list
page runs the same few queries however many invoices and claims it holds.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from claims import services
from claims.models import OPEN_STATES, Claim, ClaimState, Invoice
from claims.selectors import claim_status
from clinics.models import Clinic, PaymentMethod
from clinics.rules import region_rules
from portal import money, validators
from portal.access import Access, clinic_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record, access_log_record_many
from portal.excel import kronor_cell, text_cell, workbook_file_response
from portal.forms import PeriodForm, PersonalIdentityNumberField
from portal.keyset import keyset_page
from portal.row_urls import row_url
from review.selectors import claim_questions

from . import selectors
from . import services as billing_services
from .selectors import InvoiceSearch, InvoiceSummary, InvoiceTab

PAGE_SIZE = 25
# The claims an invoice shows when its row in the list is opened (fetched then, not with the list); an invoice of a
# file (thousands) shows the rest on its own page, INVOICE_PAGE_SIZE at a time. Only the claims shown are fetched
# and access-logged.
EXPANDED_CLAIMS = 10
INVOICE_PAGE_SIZE = 25  # as a list page (at 50, the claims and their facts were 45 ms CPU and 63 KB a page)
DEFAULT_PERIOD_DAYS = 30
ANY_DATE_FROM = datetime.date(1900, 1, 1)
EXPORT_MAX_INVOICES = 10_000
EXPORT_CHUNK = 500  # invoices read (and their claims) at a time by the export
TAB_URL_NAMES = {
    InvoiceTab.RECEIVED: "invoice_list",
    InvoiceTab.PAID: "invoice_list_paid",
    InvoiceTab.CREDITS: "invoice_list_credits",
    InvoiceTab.VOIDED: "invoice_list_voided",
}
# The GET parameters of a search; the personnummer is never one of them.
URL_FIELDS = (
    "reference",
    "claim_reference",
    "our_reference",
    "date_from",
    "date_to",
    "question",
    "open",
    "deadline",
)
# The start page's lines lead to these: ?question=waiting and ?deadline=soon (Under behandling), ?open=1
# (Kreditfakturor).
WAITING_QUESTION = "waiting"
DEADLINE_SOON = "soon"


# Form -----------------------------------------------------------------------------------------------------


class InvoiceSearchForm(PeriodForm):
    """Era fakturor's search; an empty period means the last 30 days."""

    default_days = DEFAULT_PERIOD_DAYS

    reference = forms.CharField(label=gettext_lazy("OCR/Fakturanummer"), max_length=25, required=False)
    personal_identity_number = PersonalIdentityNumberField(required=False)
    claim_reference = forms.CharField(label=gettext_lazy("Räkningsnummer"), max_length=20, required=False)
    our_reference = forms.CharField(
        label=gettext_lazy("Vår referens"),
        max_length=20,
        required=False,
        help_text=gettext_lazy("Regionens referens på en utbetalning eller en återbetalning."),
    )
    field_order = (
        "reference",
        "personal_identity_number",
        "claim_reference",
        "our_reference",
        "date_from",
        "date_to",
    )

    question = forms.ChoiceField(
        required=False, choices=[("", ""), (WAITING_QUESTION, WAITING_QUESTION)], widget=forms.HiddenInput
    )
    open = forms.BooleanField(required=False, widget=forms.HiddenInput)
    deadline = forms.ChoiceField(
        required=False, choices=[("", ""), (DEADLINE_SOON, DEADLINE_SOON)], widget=forms.HiddenInput
    )

    def clean(self):
        cleaned = super().clean()
        # A number names the invoice whenever it came in, and what waits waits whenever it came: without dates
        # chosen, every date is searched.
        named = any(
            str(cleaned.get(name) or "").strip() for name in ("reference", "claim_reference", "our_reference")
        ) or bool(cleaned.get("question") or cleaned.get("open") or cleaned.get("deadline"))
        if named and not any(str(self.data.get(name, "")).strip() for name in ("date_from", "date_to")):
            cleaned["date_from"], cleaned["date_to"] = ANY_DATE_FROM, timezone.localdate()
        return cleaned

    def search(self) -> InvoiceSearch:
        data = self.cleaned_data
        return InvoiceSearch(
            date_from=data["date_from"],
            date_to=data["date_to"],
            reference=data["reference"].strip(),
            claim_reference=data["claim_reference"].strip(),
            our_reference=data["our_reference"].strip(),
            open_question=data["question"] == WAITING_QUESTION,
            open_credit=bool(data["open"]),
            deadline_soon=data["deadline"] == DEADLINE_SOON,
            personal_identity_number=data["personal_identity_number"] or "",
        )

    def query_string(self) -> str:
        """The search as GET parameters, for links to other pages of the result (never the personnummer)."""
        data = self.cleaned_data
        given = [name for name in URL_FIELDS if str(self.data.get(name, "")).strip() and data.get(name)]
        return urlencode({name: str(data[name]) for name in given})


def _default_search() -> InvoiceSearch:
    date_from, date_to = InvoiceSearchForm.default_period()
    return InvoiceSearch(date_from=date_from, date_to=date_to)


# Access log -------------------------------------------------------------------------------------------------


def _log_patients_shown(request: HttpRequest, personal_identity_numbers: set[str], shown: AccessShown) -> None:
    if personal_identity_numbers:
        access_log_record_many(request=request, personal_identity_numbers=personal_identity_numbers, shown=shown)


def _pins_of(summaries: list[InvoiceSummary]) -> set[str]:
    """The patients of the claims the page shows (of a large invoice, only a page of them)."""
    return {claim.patient.personal_identity_number for summary in summaries for claim in summary.claims}


# Credit instruction ---------------------------------------------------------------------------------------


def credit_instruction(clinic: Clinic, invoice: Invoice) -> str:
    """How the credited amount reaches the region: set off for bankgiro, paid in by a plusgiro clinic."""
    if clinic.payment_method == PaymentMethod.BANKGIRO:
        return _("Beloppet dras av från nästa utbetalning.")
    return _("Betala in beloppet till regionens bankgiro BG %(bankgiro)s och ange Vår referens %(reference)s.") % {
        "bankgiro": validators.format_bankgiro(region_rules(clinic.region).repayment_bankgiro),
        "reference": invoice.our_reference or invoice.reference,
    }


ROW_URL_NAMES = ("invoice_claims", "invoice_detail", "invoice_delete")


def row_links(summaries: list[InvoiceSummary]) -> None:
    """Each row's links (its claims, its page, Radera), one reverse() per link for the whole page."""
    claims, detail, delete = (row_url(name, "clinic_pk", "invoice_pk") for name in ROW_URL_NAMES)
    for summary in summaries:
        ids = {"clinic_pk": summary.invoice.clinic_id, "invoice_pk": summary.invoice.pk}
        summary.claims_url, summary.detail_url, summary.delete_url = claims(**ids), detail(**ids), delete(**ids)


# The list -------------------------------------------------------------------------------------------------


@clinic_view(access=Access.CLINIC_FINANCE)
@require_http_methods(["GET", "POST"])
@never_cache
def invoice_list(request: HttpRequest, tab: str = InvoiceTab.RECEIVED) -> HttpResponse:
    """One tab of Era fakturor. GET searches by invoice and claim number and period; POST adds personnummer."""
    if tab not in InvoiceTab.ALL:
        raise Http404
    list_url = reverse(TAB_URL_NAMES[tab], kwargs={"clinic_pk": request.clinic.pk})
    if request.method == "POST":
        form = InvoiceSearchForm(request.POST)
        if not form.is_valid():
            return _render_list(request, tab, form, None)
        search = form.search()
        if "export" in request.POST:
            return _export_response(request, tab, search)
        if not search.personal_identity_number:
            # Without a personnummer the search belongs in the URL: bookmarkable, and back works.
            query = form.query_string()
            return redirect(f"{list_url}?{query}" if query else list_url)
        return _render_list(request, tab, form, search, cursor=request.POST.get("cursor"))

    data = {name: request.GET[name] for name in URL_FIELDS if name in request.GET}
    form = InvoiceSearchForm(data or None)
    if data and not form.is_valid():
        return _render_list(request, tab, form, None)
    search = form.search() if data else _default_search()
    if "export" in request.GET:
        return _export_response(request, tab, search)
    return _render_list(request, tab, form, search, cursor=request.GET.get("cursor"))


def _render_list(
    request: HttpRequest, tab: str, form: InvoiceSearchForm, search: InvoiceSearch | None, cursor: str | None = None
) -> HttpResponse:
    context = {
        "form": form,
        "tab": tab,
        "tabs": [
            (key, InvoiceTab.LABELS[key], reverse(TAB_URL_NAMES[key], kwargs={"clinic_pk": request.clinic.pk}))
            for key in InvoiceTab.ALL
        ],
        "tab_label": InvoiceTab.LABELS[tab],
        "list_url": reverse(TAB_URL_NAMES[tab], kwargs={"clinic_pk": request.clinic.pk}),
    }
    if search is not None:
        invoices = selectors.clinic_invoice_list(clinic=request.clinic, tab=tab, search=search)
        # By cursor, not by page number: the hundredth page costs what the first does (portal.keyset).
        page = keyset_page(invoices, cursor=cursor, size=PAGE_SIZE, stamp_field="received_at", count=False)
        page.count, page.count_capped = selectors.invoice_count(invoices)
        # Figures only: the claims of an invoice are fetched when its row is opened (invoice_claims).
        summaries = selectors.invoice_summaries(page.object_list)
        for summary in summaries:
            if summary.credits:
                summary.credit_instruction = credit_instruction(request.clinic, summary.invoice)
        row_links(summaries)
        if search.personal_identity_number:
            # The search itself shows whether the patient has invoices here, found or not.
            _log_patients_shown(
                request,
                {search.personal_identity_number},
                AccessShown(AccessShownKind.INVOICES_PIN_SEARCH, tab=tab),
            )
        query = form.query_string() if form.is_bound else ""
        context.update(
            search=search,
            page=page,
            summaries=summaries,
            by_post=bool(search.personal_identity_number),
            query_string=query,
        )
    return render(request, "billing/invoices.html", context)


# An invoice ----------------------------------------------------------------------------------------------


@clinic_view(access=Access.CLINIC_FINANCE)
@require_GET
@never_cache
def invoice_detail(request: HttpRequest, invoice_pk: int) -> HttpResponse:
    """An invoice's figures over all its claims, and its claims INVOICE_PAGE_SIZE at a time by reference (?sida=N):
    an invoice of a file may hold ten thousand. Only the patients of the page's claims are access-logged."""
    try:
        number = max(1, int(request.GET.get("sida", "1")))
    except ValueError:
        number = 1
    offset = (number - 1) * INVOICE_PAGE_SIZE
    summary = selectors.clinic_invoice_summary(
        clinic=request.clinic, invoice_pk=invoice_pk, claims_offset=offset, claims_limit=INVOICE_PAGE_SIZE
    )
    if summary is None:
        raise Http404
    pages = max(1, -(-summary.claim_count // INVOICE_PAGE_SIZE))
    if number > pages:
        raise Http404
    if summary.credits:
        summary.credit_instruction = credit_instruction(request.clinic, summary.invoice)
    _log_patients_shown(
        request,
        _pins_of([summary]),
        AccessShown(AccessShownKind.INVOICE, reference=summary.invoice.reference, page=number),
    )
    return render(
        request,
        "billing/invoice_detail.html",
        {
            "summary": summary,
            "number": number,
            "pages": pages,
            "has_next": number < pages,
            "first": offset + 1 if summary.claims else 0,
            "last": offset + len(summary.claims),
        },
    )


@clinic_view(access=Access.CLINIC_FINANCE)
@require_GET
@never_cache
def invoice_claims(request: HttpRequest, invoice_pk: int) -> HttpResponse:
    """An invoice's first EXPANDED_CLAIMS claims as a part of a page: what its row in Era fakturor shows when opened
    (static/js/invoice-claims.js fetches it then). Only those claims' patients are access-logged."""
    summary = selectors.clinic_invoice_summary(
        clinic=request.clinic, invoice_pk=invoice_pk, claims_offset=0, claims_limit=EXPANDED_CLAIMS
    )
    if summary is None:
        raise Http404
    _log_patients_shown(
        request,
        _pins_of([summary]),
        AccessShown(AccessShownKind.INVOICE_CLAIMS, reference=summary.invoice.reference),
    )
    return render(request, "billing/includes/invoice_claims.html", {"summary": summary})


# Export ---------------------------------------------------------------------------------------------------


def _export_response(
    request: HttpRequest, tab: str, search: InvoiceSearch, *, clinics: list[Clinic] | None = None, owner=None
) -> HttpResponse:
    """The current list (all its pages, at most EXPORT_MAX_INVOICES invoices) as Excel: the invoices, and their
    claims on a second sheet. Read EXPORT_CHUNK invoices at a time as values (billing.selectors.invoice_export)
    into write-only sheets, which keep their rows on disk, and streamed from a temporary file: the worker's memory
    stays flat however many claims the period holds.

    With `clinics` (an umbrella organisation's, `owner`), the invoices of those clinics with a Klinik column."""
    scope = clinics if clinics is not None else request.clinic
    owner = owner or request.clinic
    invoices = selectors.clinic_invoice_list(clinic=scope, tab=tab, search=search)
    exported_at = timezone.localtime()

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Fakturor"))
    for column, width in zip("ABCDEF", (24, 12, 14, 34, 14, 40), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append(
        [
            text_cell(
                sheet,
                _("Era fakturor: %(tab)s, %(clinic)s") % {"tab": InvoiceTab.LABELS[tab], "clinic": owner},
            ),
        ]
    )
    period = _("Period %(from)s–%(to)s, exporterad %(time)s") % {
        "from": search.date_from.isoformat(),
        "to": search.date_to.isoformat(),
        "time": f"{exported_at:%Y-%m-%d %H:%M}",
    }
    sheet.append([text_cell(sheet, period)])
    sheet.append([])
    headings = [_("OCR/Fakturanummer"), _("Inkom"), _("Belopp"), _("Status"), _("Vår referens"), _("Räkningsstatus")]
    if clinics is not None:
        headings.insert(1, _("Klinik"))
    sheet.append([text_cell(sheet, heading) for heading in headings])

    claims_sheet = workbook.create_sheet(title=_("Räkningar"))
    for column, width in zip("ABCDEFGH", (24, 20, 16, 18, 14, 14, 30, 30), strict=True):
        claims_sheet.column_dimensions[column].width = width
    claim_headings = [
        _("OCR/Fakturanummer"),
        _("Räkningsreferens"),
        _("Personnummer"),
        _("FHB nummer"),
        _("Patientavgift"),
        _("Totalsumma"),
        _("Registrerad av"),
        _("Status"),
    ]
    if clinics is not None:
        claim_headings.insert(1, _("Klinik"))
    claims_sheet.append([text_cell(claims_sheet, heading) for heading in claim_headings])

    # Each patient once per clinic whose data it is (one clinic's export: that clinic).
    pins_by_clinic: dict[int, set[str]] = {}
    for summaries, claims in selectors.invoice_export(invoices, limit=EXPORT_MAX_INVOICES, chunk_size=EXPORT_CHUNK):
        references = {}
        for summary in summaries:
            invoice = summary.invoice
            references[invoice.pk] = (invoice.reference, invoice.clinic)
            received = WriteOnlyCell(sheet, value=timezone.localdate(invoice.received_at))
            received.number_format = "yyyy-mm-dd"
            clinic_cells = [text_cell(sheet, invoice.clinic)] if clinics is not None else []
            sheet.append(
                [
                    text_cell(sheet, invoice.reference),
                    *clinic_cells,
                    received,
                    kronor_cell(sheet, summary.amount),
                    text_cell(sheet, summary.status),
                    text_cell(sheet, invoice.our_reference),
                    text_cell(sheet, summary.claims_status),
                ]
            )
        for claim in claims:
            reference, clinic_name = references[claim.invoice_id]
            pins_by_clinic.setdefault(claim.clinic_id, set()).add(claim.personal_identity_number)
            clinic_cells = [text_cell(claims_sheet, clinic_name)] if clinics is not None else []
            claims_sheet.append(
                [
                    text_cell(claims_sheet, reference),
                    *clinic_cells,
                    text_cell(claims_sheet, claim.reference),
                    text_cell(claims_sheet, validators.format_personal_identity_number(claim.personal_identity_number)),
                    text_cell(claims_sheet, claim.prior_assessment_number),
                    kronor_cell(claims_sheet, claim.patient_fee_total),
                    kronor_cell(claims_sheet, claim.total),
                    text_cell(claims_sheet, claim.registered_by),
                    text_cell(claims_sheet, claim.status),
                ]
            )
    shown = AccessShown(AccessShownKind.INVOICES_EXPORT, tab=tab)
    searched = {search.personal_identity_number} if search.personal_identity_number else set()
    if clinics is None:
        _log_patients_shown(request, set().union(searched, *pins_by_clinic.values()), shown)
        stem = request.clinic.number
    else:
        _log_pins_per_clinic(request, pins_by_clinic, searched, clinics, shown)
        stem = f"org{owner.organisation_number}"
    # The file name says whose invoices and when, never whose personnummer.
    return workbook_file_response(workbook, f"fakturor-{stem}-{tab}-{exported_at:%Y%m%d-%H%M%S}.xlsx")


def log_search_per_clinic(request: HttpRequest, searched: str, clinics: list[Clinic], shown: AccessShown) -> None:
    """An umbrella organisation's search by personnummer shows whether the patient has invoices at each clinic
    searched: logged at every one of them (its list shows no claim; an opened row logs its own)."""
    if searched:
        _log_pins_per_clinic(request, {}, {searched}, clinics, shown)


def _log_pins_per_clinic(
    request: HttpRequest, by_clinic: dict[int, set[str]], searched: set[str], clinics: list[Clinic], shown: AccessShown
) -> None:
    pins = {clinic.pk: set(searched) for clinic in clinics}
    for clinic_pk, shown_pins in by_clinic.items():
        pins.setdefault(clinic_pk, set()).update(shown_pins)
    clinics_by_pk = {clinic.pk: clinic for clinic in clinics}
    for clinic_pk, clinic_pins in pins.items():
        if clinic_pins:
            access_log_record_many(
                request=request, personal_identity_numbers=clinic_pins, shown=shown, clinic=clinics_by_pk[clinic_pk]
            )


# A claim --------------------------------------------------------------------------------------------------


def _clinic_claim(request: HttpRequest, claim_pk: int) -> Claim:
    claim = selectors.clinic_claim(clinic=request.clinic, claim_pk=claim_pk)
    if claim is None:
        raise Http404
    return claim


def _log_claim_shown(request: HttpRequest, claim: Claim, shown: AccessShown) -> None:
    access_log_record(request=request, personal_identity_number=claim.patient.personal_identity_number, shown=shown)


@clinic_view(access=Access.CLINIC_FINANCE)
@require_GET
def invoice_claim_detail(request: HttpRequest, claim_pk: int) -> HttpResponse:
    """A claim's treatment lines (utförda åtgärder), its credits and its history."""
    claim = _clinic_claim(request, claim_pk)
    _log_claim_shown(request, claim, AccessShown(AccessShownKind.CLAIM, reference=claim.reference))
    events = claim.events.select_related("actor").order_by("occurred_at", "id")
    return render(
        request,
        "billing/invoices_claim.html",
        {
            "claim": claim,
            "status": claim_status(claim),
            "events": events,
            # The region's questions about the claim; answered here while the claim is under review.
            "questions": claim_questions(claim=claim),
            "can_answer": claim.state in OPEN_STATES,
        },
    )


def _back_to_list(request: HttpRequest, claim: Claim) -> str:
    tab = InvoiceTab.RECEIVED if claim.state in (*OPEN_STATES, ClaimState.APPROVED, ClaimState.DELETED) else None
    tab = tab or (InvoiceTab.VOIDED if claim.state == ClaimState.VOIDED else InvoiceTab.PAID)
    return reverse(TAB_URL_NAMES[tab], kwargs={"clinic_pk": request.clinic.pk})


@clinic_view()
@require_http_methods(["GET", "POST"])
def invoice_claim_delete(request: HttpRequest, claim_pk: int) -> HttpResponse:
    """Radera: the list's button (and a GET) shows what is deleted; the confirmation deletes it."""
    claim = _clinic_claim(request, claim_pk)
    errors: list[str] = []
    if request.method == "POST" and "confirm" in request.POST:
        try:
            services.claim_delete(actor=request.user, claim=claim)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, _("Räkning %(reference)s är raderad.") % {"reference": claim.reference})
            return redirect(_back_to_list(request, claim))
    _log_claim_shown(request, claim, AccessShown(AccessShownKind.CLAIM_DELETE, reference=claim.reference))
    return render(
        request,
        "billing/invoices_claim_delete.html",
        {
            "claim": claim,
            "errors": errors,
            "deletable": claim.state in OPEN_STATES,
            "back": _back_to_list(request, claim),
        },
    )


@clinic_view()
@require_http_methods(["GET", "POST"])
def invoice_delete(request: HttpRequest, invoice_pk: int) -> HttpResponse:
    """Radera a whole invoice: every claim of it that is still under behandling."""
    invoice = get_object_or_404(Invoice.objects.of_clinic(request.clinic), pk=invoice_pk)
    claims = list(invoice.claims.order_by("reference"))
    open_claims = [claim for claim in claims if claim.state in OPEN_STATES]
    errors: list[str] = []
    list_url = reverse("invoice_list", kwargs={"clinic_pk": request.clinic.pk})
    if request.method == "POST" and "confirm" in request.POST:
        try:
            services.invoice_delete(actor=request.user, invoice=invoice)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, _("Faktura %(reference)s är raderad.") % {"reference": invoice.reference})
            return redirect(list_url)
    return render(
        request,
        "billing/invoices_delete.html",
        {"invoice": invoice, "open_claims": open_claims, "errors": errors, "back": list_url},
    )


class CreditForm(forms.Form):
    lines = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Åtgärder att kreditera"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": gettext_lazy(
                "Välj de åtgärder som ska krediteras, eller välj alla för att kreditera hela räkningen."
            )
        },
    )

    def __init__(self, *args, claim: Claim, **kwargs):
        super().__init__(*args, **kwargs)
        self.creditable = [
            line for line in claim.lines.all() if not line.is_patient_fee and not hasattr(line, "credit")
        ]
        self.fields["lines"].choices = [
            (
                line.pk,
                f"{line.visit_date:%Y-%m-%d} {line.code} {line.description}"
                f"{' ' + _('tand') + ' ' + line.tooth if line.tooth else ''}{' ' + line.jaw if line.jaw else ''}"
                f" – {money.format_kronor(line.amount)}",
            )
            for line in self.creditable
        ]
        self.fields["lines"].initial = [line.pk for line in self.creditable]

    def line_ids(self) -> list[int] | None:
        """None when every line left is chosen: the rest of the claim is credited, fees included."""
        chosen = set(self.cleaned_data["lines"])
        return None if chosen == {line.pk for line in self.creditable} else sorted(chosen)


@clinic_view()
@require_http_methods(["GET", "POST"])
def invoice_claim_credit(request: HttpRequest, claim_pk: int) -> HttpResponse:
    """Kreditera: choose the lines (all by default), confirm; the clinic is told how the amount is settled."""
    claim = _clinic_claim(request, claim_pk)
    confirmed = request.method == "POST" and "confirm" in request.POST
    form = CreditForm(request.POST if confirmed else None, claim=claim)
    errors: list[str] = []
    if confirmed and form.is_valid():
        try:
            credit = billing_services.claim_credit(actor=request.user, claim=claim, line_ids=form.line_ids())
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(
                request,
                _("Kreditfaktura %(reference)s på %(amount)s är skapad. %(instruction)s")
                % {
                    "reference": credit.reference,
                    "amount": money.format_kronor(credit.total),
                    "instruction": credit_instruction(request.clinic, claim.invoice),
                },
            )
            return redirect("invoice_list_credits", clinic_pk=request.clinic.pk)
    _log_claim_shown(request, claim, AccessShown(AccessShownKind.CLAIM_CREDIT, reference=claim.reference))
    return render(
        request,
        "billing/invoices_claim_credit.html",
        {
            "claim": claim,
            "form": form,
            "errors": errors,
            "creditable": claim.state == ClaimState.PAID and bool(form.creditable),
            "instruction": credit_instruction(request.clinic, claim.invoice),
            "back": reverse("invoice_list_paid", kwargs={"clinic_pk": request.clinic.pk}),
        },
    )
