"""An umbrella organisation's own pages (/organisation/<pk>/): its clinics together, for a user of the organisation
(clinics.OrganisationMembership). The start page lists what waits at each clinic; *Era fakturor* and
*Utbetalningsbesked* show all its clinics' invoices and payouts with a Klinik column and a filter by clinic. Each
row leads to the clinic's own pages, which the organisation's users open as the clinic's members."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from claims.models import InvoiceFileState, InvoiceFileUpload
from clinics.models import Clinic
from payouts import selectors as payout_selectors
from payouts.models import PayoutPayment, Repayment
from portal.access import organisation_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.keyset import keyset_page

from . import selectors
from .invoice_views import (
    PAGE_SIZE,
    URL_FIELDS,
    InvoiceSearchForm,
    _default_search,
    _export_response,
    credit_instruction,
    log_search_per_clinic,
    row_links,
)
from .selectors import InvoiceSearch, InvoiceTab

# Utbetalningsbesked a page at a time (?sida=N): its clinics' payouts of every month, never all at once.
PAYOUTS_PAGE_SIZE = 25
ORGANISATION_TAB_URL_NAMES = {
    InvoiceTab.RECEIVED: "organisation_invoice_list",
    InvoiceTab.PAID: "organisation_invoice_list_paid",
    InvoiceTab.CREDITS: "organisation_invoice_list_credits",
    InvoiceTab.VOIDED: "organisation_invoice_list_voided",
}


def _chosen_clinics(request: HttpRequest, chosen: str) -> list[Clinic]:
    """The organisation's clinics the page shows: all, or the one chosen by its number."""
    if not chosen:
        return request.organisation_clinics
    return [clinic for clinic in request.organisation_clinics if clinic.number == chosen]


class _ClinicChoice(forms.Form):
    clinic = forms.ChoiceField(label=gettext_lazy("Klinik"), required=False)

    def __init__(self, *args, clinics: list[Clinic], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].choices = [("", gettext_lazy("Alla kliniker")), *((c.number, str(c)) for c in clinics)]


class OrganisationInvoiceSearchForm(InvoiceSearchForm):
    """Era fakturor's search for an umbrella organisation: also by clinic (all its clinics by default)."""

    clinic = forms.ChoiceField(label=gettext_lazy("Klinik"), required=False)

    def __init__(self, *args, clinics: list[Clinic], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].choices = [("", gettext_lazy("Alla kliniker")), *((c.number, str(c)) for c in clinics)]
        # The clinic first: it is what an organisation's biller chooses first.
        self.order_fields(["clinic", *self.field_order])

    def query_string(self) -> str:
        query = super().query_string()
        clinic = self.cleaned_data.get("clinic")
        if not clinic:
            return query
        return f"{query}&{urlencode({'clinic': clinic})}" if query else urlencode({"clinic": clinic})


@organisation_view
@require_GET
def organisation_start(request: HttpRequest) -> HttpResponse:
    """Each of the organisation's clinics with what waits there, in a few grouped queries whatever their number."""
    clinics = request.organisation_clinics
    questions = {
        row["claim__clinic"]: row
        for row in selectors._unanswered_questions(clinics)
        .values("claim__clinic")
        .annotate(count=Count("pk"), oldest=Min("asked_at"))
        .order_by()
    }
    files = dict(
        InvoiceFileUpload.objects.of_clinics(clinics)
        .filter(state=InvoiceFileState.CHECKED)
        .values_list("clinic")
        .annotate(count=Count("pk"))
        .order_by()
    )
    repayments = dict(
        Repayment.objects.of_clinics(clinics)
        .filter(received_on__isnull=True)
        .values_list("clinic")
        .annotate(count=Count("pk"))
        .order_by()
    )
    rows = [
        {
            "clinic": clinic,
            "questions": questions.get(clinic.pk, {}).get("count", 0),
            "files": files.get(clinic.pk, 0),
            "repayments": repayments.get(clinic.pk, 0),
        }
        for clinic in clinics
    ]
    return render(request, "billing/organisation_start.html", {"rows": rows})


@organisation_view
@require_http_methods(["GET", "POST"])
@never_cache
def organisation_invoice_list(request: HttpRequest, tab: str = InvoiceTab.RECEIVED) -> HttpResponse:
    """Era fakturor for all the organisation's clinics (or one), with a Klinik column; as the clinic's list."""
    if tab not in InvoiceTab.ALL:
        raise Http404
    clinics = request.organisation_clinics
    list_url = reverse(ORGANISATION_TAB_URL_NAMES[tab], kwargs={"organisation_pk": request.organisation.pk})
    if request.method == "POST":
        form = OrganisationInvoiceSearchForm(request.POST, clinics=clinics)
        if not form.is_valid():
            return _render(request, tab, form, None)
        search = form.search()
        chosen = _chosen_clinics(request, form.cleaned_data["clinic"])
        if "export" in request.POST:
            return _export_response(request, tab, search, clinics=chosen, owner=request.organisation)
        if not search.personal_identity_number:
            query = form.query_string()
            return redirect(f"{list_url}?{query}" if query else list_url)
        return _render(request, tab, form, search, chosen, cursor=request.POST.get("cursor"))

    data = {name: request.GET[name] for name in (*URL_FIELDS, "clinic") if name in request.GET}
    form = OrganisationInvoiceSearchForm(data or None, clinics=clinics)
    if data and not form.is_valid():
        return _render(request, tab, form, None)
    search = form.search() if data else _default_search()
    chosen = _chosen_clinics(request, form.cleaned_data["clinic"] if data else "")
    if "export" in request.GET:
        return _export_response(request, tab, search, clinics=chosen, owner=request.organisation)
    return _render(request, tab, form, search, chosen, cursor=request.GET.get("cursor"))


def _render(
    request: HttpRequest,
    tab: str,
    form: OrganisationInvoiceSearchForm,
    search: InvoiceSearch | None,
    clinics: list[Clinic] | None = None,
    cursor: str | None = None,
) -> HttpResponse:
    organisation_pk = request.organisation.pk
    context = {
        "form": form,
        "tab": tab,
        "tabs": [
            (
                key,
                InvoiceTab.LABELS[key],
                reverse(ORGANISATION_TAB_URL_NAMES[key], kwargs={"organisation_pk": organisation_pk}),
            )
            for key in InvoiceTab.ALL
        ],
        "tab_label": InvoiceTab.LABELS[tab],
        "list_url": reverse(ORGANISATION_TAB_URL_NAMES[tab], kwargs={"organisation_pk": organisation_pk}),
        "show_clinic": True,
    }
    if search is not None:
        invoices = selectors.clinic_invoice_list(clinic=clinics, tab=tab, search=search)
        # The page: each clinic's list read by its own (clinic, received_at, id) index and merged by the database
        # (one scan of the global received_at index read and dropped every other clinic's invoices of the period);
        # each invoice then gets its clinic from the organisation's, already read.
        per_clinic = [selectors.clinic_invoice_list(clinic=clinic, tab=tab, search=search) for clinic in clinics]
        page = keyset_page(per_clinic, cursor=cursor, size=PAGE_SIZE, stamp_field="received_at", count=False)
        by_pk = {clinic.pk: clinic for clinic in clinics}
        for invoice in page.object_list:
            invoice.clinic = by_pk[invoice.clinic_id]
        page.count, page.count_capped = selectors.invoice_count(invoices)
        # Figures only: an invoice's claims are fetched from its clinic's pages when its row is opened.
        summaries = selectors.invoice_summaries(page.object_list)
        for summary in summaries:
            if summary.credits:
                summary.credit_instruction = credit_instruction(summary.invoice.clinic, summary.invoice)
        row_links(summaries)
        shown = AccessShown(AccessShownKind.INVOICES_PIN_SEARCH, tab=tab)
        log_search_per_clinic(request, search.personal_identity_number, clinics, shown)
        context.update(
            search=search,
            page=page,
            summaries=summaries,
            by_post=bool(search.personal_identity_number),
            query_string=form.query_string() if form.is_bound else "",
        )
    return render(request, "billing/organisation_invoices.html", context)


@organisation_view
@require_GET
def organisation_payout_list(request: HttpRequest) -> HttpResponse:
    """Utbetalningsbesked of all the organisation's clinics (or one), newest payout first, with a Klinik column."""
    data = {key: value for key, value in request.GET.items() if key == "clinic"}
    form = _ClinicChoice(data or None, clinics=request.organisation_clinics)
    chosen = form.cleaned_data["clinic"] if form.is_bound and form.is_valid() else ""
    try:
        number = max(1, int(request.GET.get("sida", "1")))
    except ValueError:
        number = 1
    offset = (number - 1) * PAYOUTS_PAGE_SIZE
    payments = list(
        PayoutPayment.objects.of_clinics(_chosen_clinics(request, chosen))
        .filter(run__file_downloaded_at__isnull=False)
        .select_related("run", "clinic")
        .order_by("-run__payout_date", "clinic__number", "-pk")[offset : offset + PAYOUTS_PAGE_SIZE + 1]
    )
    return render(
        request,
        "billing/organisation_payouts.html",
        {
            "payments": payout_selectors.with_invoice_references(payments[:PAYOUTS_PAGE_SIZE]),
            "form": form,
            "number": number,
            "has_next": len(payments) > PAYOUTS_PAGE_SIZE,
            "query_string": urlencode({"clinic": chosen}) + "&" if chosen else "",
        },
    )
