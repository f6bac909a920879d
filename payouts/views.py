"""Utbetalningar and återbetalningar for the region's coordinators: runs, the bank's file, notices, repayments.

No page here shows a personnummer (claims are listed by räkningsreferens), so none writes the access log.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinics.region_services import region_payout_second_confirmation_set
from clinics.rules import region_rules
from portal import validators
from portal.access import Access, clinic_view, is_region_admin, region_view
from portal.background import progress_response
from portal.excel import XLSX_CONTENT_TYPE
from portal.forms import DATE_WIDGET, DateField, KronorField, add_service_errors
from portal.money import format_kronor

from . import bankdays, notices, preview_services, selectors, services
from .models import PayoutPreviewState, PayoutRunState, Repayment
from .payment_file import payment_file_name, payment_file_stream
from .plan import needs_second_confirmation


class PayoutRunForm(forms.Form):
    payout_date = DateField(
        label=gettext_lazy("Utbetalningsdatum"),
        widget=DATE_WIDGET,
        help_text=gettext_lazy("En bankdag: inte lördag, söndag, helgdag, midsommarafton, julafton eller nyårsafton."),
        error_messages={
            "required": gettext_lazy("Ange utbetalningsdatum."),
            "invalid": gettext_lazy("Ange ett datum som ÅÅÅÅ-MM-DD."),
        },
    )


class SecondConfirmationForm(forms.Form):
    amount = KronorField(
        label=gettext_lazy("Körningar över detta belopp bekräftas av en andra samordnare (kr)"),
        help_text=gettext_lazy("Nettobeloppet att betala ut. 0 kr: varje körning bekräftas av två samordnare."),
        error_messages={"required": gettext_lazy("Ange ett belopp i kronor.")},
    )


class RepaymentReceivedForm(forms.Form):
    received_on = DateField(
        label=gettext_lazy("Mottagen den"),
        widget=DATE_WIDGET,
        error_messages={
            "required": gettext_lazy("Ange vilken dag beloppet kom in."),
            "invalid": gettext_lazy("Ange ett datum som ÅÅÅÅ-MM-DD."),
        },
    )


def _run_or_404(request: HttpRequest, run_pk: int):
    run = selectors.region_run(region=request.region, run_pk=run_pk)
    if run is None:
        raise Http404
    return run


# Runs -------------------------------------------------------------------------------------------------------


@region_view()
@require_GET
def payout_run_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "payouts/run_list.html",
        {
            "runs": selectors.region_runs(region=request.region),
            "next_run": selectors.next_payout_run(region=request.region),
            "is_admin": is_region_admin(request),
            "second_confirmation_above": region_rules(request.region).payout_second_confirmation_above,
        },
    )


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def payout_second_confirmation(request: HttpRequest) -> HttpResponse:
    """Fyra ögon: the region's administrator sets the net amount above which a run needs a second coordinator."""
    region = request.region
    form = SecondConfirmationForm(
        request.POST or None,
        initial={"amount": format_kronor(region_rules(region).payout_second_confirmation_above, unit=False)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            region_payout_second_confirmation_set(actor=request.user, region=region, amount=form.cleaned_data["amount"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Beloppet för en andra bekräftelse är sparat."))
            return redirect("payout_run_list", region_code=region.code)
    return render(request, "payouts/second_confirmation.html", {"form": form})


@region_view()
@require_http_methods(["GET", "POST"])
def payout_run_new(request: HttpRequest) -> HttpResponse:
    """Ny utbetalningskörning: a payout date, then the preview of the run (computed by a task, on a page of its own:
    per clinic the claims, set-offs, net and account; the claims left out and why), which the coordinator confirms
    from there ("Skapa utbetalningskörning" posts the date and the preview's fingerprint here). The run is made
    from what was previewed: its task refuses, saying so, if anything changed meanwhile."""
    if request.method != "POST":
        suggested = bankdays.next_bank_day(timezone.localdate())
        return render(request, "payouts/run_new.html", {"form": PayoutRunForm(initial={"payout_date": suggested})})
    form = PayoutRunForm(request.POST)
    if not form.is_valid():
        return render(request, "payouts/run_new.html", {"form": form})
    payout_date = form.cleaned_data["payout_date"]
    try:
        services.payout_date_check(payout_date)
    except ValidationError as error:
        add_service_errors(form, error)
        return render(request, "payouts/run_new.html", {"form": form})
    existing = selectors.region_live_run(region=request.region, payout_date=payout_date)
    if existing is not None:
        messages.info(
            request,
            _("Det finns redan en utbetalningskörning för %(date)s. Inget nytt har skapats.")
            % {"date": payout_date.isoformat()},
        )
        return redirect("payout_run_detail", region_code=request.region.code, run_pk=existing.pk)
    fingerprint = request.POST.get("fingerprint")
    if not fingerprint:
        started = preview_services.payout_preview_start(
            actor=request.user, region=request.region, payout_date=payout_date
        )
        if not started.created:
            messages.info(
                request,
                _("En förhandsgranskning för %(date)s beräknas redan. Sidan visar när den är klar.")
                % {"date": payout_date.isoformat()},
            )
        return redirect("payout_preview_detail", region_code=request.region.code, preview_pk=started.preview.pk)
    preview = selectors.region_ready_preview(region=request.region, payout_date=payout_date, fingerprint=fingerprint)
    if preview is None:
        messages.error(
            request,
            _("Förhandsgranskningen finns inte längre. Ingen körning har skapats. Förhandsgranska igen och bekräfta."),
        )
        return render(request, "payouts/run_new.html", {"form": form})
    try:
        # The run's task checks the fingerprint again under lock: a basis changed since the preview is refused there.
        result = services.payout_run_start(
            actor=request.user,
            region=request.region,
            payout_date=payout_date,
            fingerprint=preview.fingerprint,
            expected_count=preview.claim_count,
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return render(request, "payouts/run_new.html", {"form": form})
    return _run_created_redirect(request, result)


# Rows per page of the run's clinics, and of the preview's.
PAGE_SIZE = 10


def _page(request: HttpRequest, items):
    return Paginator(items, PAGE_SIZE).get_page(request.GET.get("sida"))


def _preview_or_404(request: HttpRequest, preview_pk: int):
    preview = selectors.region_preview(region=request.region, preview_pk=preview_pk)
    if preview is None:
        raise Http404
    return preview


@region_view()
@require_GET
@never_cache
def payout_preview_detail(request: HttpRequest, preview_pk: int) -> HttpResponse:
    """Förhandsgranskning: while the task computes it, its progress; then what the run would pay, the clinics a
    page at a time (?sida=N) with their set-offs (and claims, for a small run), the claims left out (on the first
    page) and "Skapa utbetalningskörning"; or why it could not be computed, and "Försök igen"."""
    preview = _preview_or_404(request, preview_pk)
    context = {
        "preview": preview,
        "making": preview.is_making and not preview.is_stalled,
        "failed": preview.state == PayoutPreviewState.FAILED or preview.is_stalled,
        "failure_message": preview.failure_message or preview_services.PREVIEW_FAILURE_MESSAGE,
    }
    if preview.state == PayoutPreviewState.READY:
        payments = _page(request, selectors.preview_payments(preview=preview))
        selectors.preview_page_rows(preview=preview, payments=payments)
        first_page = payments.number == 1
        context.update(
            payments=payments,
            left_out=selectors.preview_left_out(preview=preview) if first_page else [],
            needs_second_confirmation=needs_second_confirmation(region=request.region, net_total=preview.net_total),
            second_confirmation_above=region_rules(request.region).payout_second_confirmation_above,
            existing_run=selectors.region_live_run(region=request.region, payout_date=preview.payout_date),
        )
    return render(request, "payouts/run_preview.html", context)


@region_view()
@require_GET
@never_cache
def payout_preview_status(request: HttpRequest, preview_pk: int) -> JsonResponse:
    """For static/js/progress.js: how far the preview being computed has come."""
    preview = _preview_or_404(request, preview_pk)
    return progress_response(
        preview,
        finished=not preview.is_making or preview.is_stalled,
        processed=preview.progress_count,
        total=preview.claim_count,
    )


def _run_created_redirect(request: HttpRequest, result: services.PayoutRunResult) -> HttpResponse:
    run = result.run
    run.refresh_from_db()
    if not result.created:
        messages.info(
            request,
            _("Det finns redan en utbetalningskörning för %(date)s. Inget nytt har skapats.")
            % {"date": run.payout_date.isoformat()},
        )
    elif run.state == PayoutRunState.MAKING:
        messages.info(
            request,
            _("Utbetalningskörningen för %(date)s skapas nu. Sidan visar när den är klar.")
            % {"date": run.payout_date.isoformat()},
        )
    elif run.state == PayoutRunState.FAILED:
        messages.error(request, run.failure_message)
    elif run.state == PayoutRunState.AWAITING_SECOND:
        messages.success(
            request,
            _(
                "Utbetalningskörningen för %(date)s är skapad: %(count)s räkningar, %(amount)s att betala ut. "
                "Beloppet är över %(limit)s: en annan samordnare måste bekräfta körningen innan betalningsfilen "
                "kan laddas ner."
            )
            % {
                "date": run.payout_date.isoformat(),
                "count": run.claim_count,
                "amount": format_kronor(run.net_total),
                "limit": format_kronor(region_rules(request.region).payout_second_confirmation_above),
            },
        )
    else:
        messages.success(
            request,
            _("Utbetalningskörningen för %(date)s är skapad: %(count)s räkningar, %(amount)s att betala ut.")
            % {"date": run.payout_date.isoformat(), "count": run.claim_count, "amount": format_kronor(run.net_total)},
        )
    return redirect("payout_run_detail", region_code=request.region.code, run_pk=run.pk)


@region_view()
@require_GET
@never_cache
def payout_run_detail(request: HttpRequest, run_pk: int) -> HttpResponse:
    """The run: its figures (kept on the run), then its clinics a page at a time, each with its first invoices
    (their claims counted, not listed) and how many it has: the utbetalningsbesked lists them all. While the run is
    being made, its progress."""
    run = _run_or_404(request, run_pk)
    payments = _page(request, selectors.run_payments(run=run))
    selectors.run_page_invoices(run=run, payments=payments)
    return render(
        request,
        "payouts/run_detail.html",
        {
            "run": run,
            "payments": payments,
            "has_file": run.payments.filter(net__gt=0).exists(),
            "making": run.is_making and not run.is_stalled,
            "failed": run.state == PayoutRunState.FAILED or run.is_stalled,
            "failure_message": run.failure_message or services.FAILURE_MESSAGE,
            "awaiting_second": run.state == PayoutRunState.AWAITING_SECOND,
            "downloadable": run.state in (PayoutRunState.PLANNED, PayoutRunState.PAID),
            "cancelled": run.state == PayoutRunState.CANCELLED,
            "second_confirmation_above": region_rules(request.region).payout_second_confirmation_above,
        },
    )


@region_view()
@require_GET
@never_cache
def payout_run_status(request: HttpRequest, run_pk: int) -> JsonResponse:
    """For static/js/progress.js: how far the run being made has come."""
    run = _run_or_404(request, run_pk)
    return progress_response(
        run, finished=not run.is_making or run.is_stalled, processed=run.progress_count, total=run.claim_count
    )


@region_view()
@require_POST
def payout_run_confirm(request: HttpRequest, run_pk: int) -> HttpResponse:
    """Bekräfta körningen: the second coordinator of a run above the region's amount (four eyes)."""
    run = _run_or_404(request, run_pk)
    try:
        services.payout_run_confirm(actor=request.user, run=run)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(
            request,
            _("Utbetalningskörningen för %(date)s är bekräftad. Betalningsfilen kan laddas ner.")
            % {"date": run.payout_date.isoformat()},
        )
    return redirect("payout_run_detail", region_code=request.region.code, run_pk=run.pk)


@region_view()
@require_POST
def payout_run_file(request: HttpRequest, run_pk: int) -> HttpResponse:
    """The bank's payment file (pain.001.001.03) of the run; each download is recorded, and the first sends the
    clinics their utbetalningsbesked and ends the run's cancellation."""
    run = _run_or_404(request, run_pk)
    try:
        services.payout_run_file_download(actor=request.user, run=run)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect("payout_run_detail", region_code=request.region.code, run_pk=run.pk)
    try:
        content = payment_file_stream(run)
    except ValueError:
        messages.info(
            request,
            _("Körningen har inget att betala ut: alla belopp har kvittats mot kreditfakturor."),
        )
        return redirect("payout_run_detail", region_code=request.region.code, run_pk=run.pk)
    response = StreamingHttpResponse(content, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{payment_file_name(run)}"'
    return response


@region_view()
@require_http_methods(["GET", "POST"])
def payout_run_cancel(request: HttpRequest, run_pk: int) -> HttpResponse:
    """Makulera körning: asks first (GET), then undoes the run (POST) until its payment file is downloaded."""
    run = _run_or_404(request, run_pk)
    if request.method == "POST":
        try:
            services.payout_run_cancel(actor=request.user, run=run)
        except ValidationError as error:
            messages.error(request, error.messages[0])
        else:
            messages.success(
                request,
                _(
                    "Utbetalningskörningen för %(date)s är makulerad. Räkningarna är tillbaka som de var före "
                    "körningen, och datumet är ledigt för en ny körning."
                )
                % {"date": run.payout_date.isoformat()},
            )
        return redirect("payout_run_detail", region_code=request.region.code, run_pk=run.pk)
    if not run.can_be_cancelled:
        messages.error(request, _("Körningen kan inte makuleras."))
        return redirect("payout_run_detail", region_code=request.region.code, run_pk=run.pk)
    return render(request, "payouts/run_cancel.html", {"run": run})


def _notice_download(payment, extension: str) -> HttpResponse:
    notice = notices.notice_build(payment)
    if extension == "pdf":
        response = HttpResponse(notices.notice_pdf(notice), content_type="application/pdf")
    else:
        response = HttpResponse(notices.notice_xlsx(notice), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{notices.notice_file_name(payment, extension)}"'
    return response


def _region_notice(request: HttpRequest, run_pk: int, payment_pk: int, extension: str) -> HttpResponse:
    payment = selectors.region_payment(region=request.region, run_pk=run_pk, payment_pk=payment_pk)
    if payment is None:
        raise Http404
    return _notice_download(payment, extension)


@region_view()
@require_GET
def payout_notice_pdf(request: HttpRequest, run_pk: int, payment_pk: int) -> HttpResponse:
    return _region_notice(request, run_pk, payment_pk, "pdf")


@region_view()
@require_GET
def payout_notice_xlsx(request: HttpRequest, run_pk: int, payment_pk: int) -> HttpResponse:
    return _region_notice(request, run_pk, payment_pk, "xlsx")


# The clinic's utbetalningsbesked ----------------------------------------------------------------------------

CLINIC_PAYOUTS_PAGE_SIZE = 25


@clinic_view(access=Access.CLINIC_FINANCE)
@require_GET
def clinic_payout_list(request: HttpRequest) -> HttpResponse:
    """The clinic's payouts with their utbetalningsbesked, as e-mailed to its payout address, newest first and
    CLINIC_PAYOUTS_PAGE_SIZE a page (?sida=N): a clinic has a payout or two a month, so even its tenth page is an
    offset of a few hundred rows of its own, and the page's queries do not grow with its history."""
    try:
        number = max(1, int(request.GET.get("sida", "1")))
    except ValueError:
        number = 1
    offset = (number - 1) * CLINIC_PAYOUTS_PAGE_SIZE
    rows = list(selectors.clinic_payments(clinic=request.clinic)[offset : offset + CLINIC_PAYOUTS_PAGE_SIZE + 1])
    return render(
        request,
        "payouts/clinic_payouts.html",
        {
            "payments": selectors.with_invoice_references(rows[:CLINIC_PAYOUTS_PAGE_SIZE]),
            "number": number,
            "has_next": len(rows) > CLINIC_PAYOUTS_PAGE_SIZE,
        },
    )


def _clinic_notice(request: HttpRequest, payment_pk: int, extension: str) -> HttpResponse:
    # Another clinic's payout is a 404, never a 403 that confirms it exists.
    payment = selectors.clinic_payment(clinic=request.clinic, payment_pk=payment_pk)
    if payment is None:
        raise Http404
    return _notice_download(payment, extension)


@clinic_view(access=Access.CLINIC_FINANCE)
@require_GET
def clinic_payout_notice_pdf(request: HttpRequest, payment_pk: int) -> HttpResponse:
    return _clinic_notice(request, payment_pk, "pdf")


@clinic_view(access=Access.CLINIC_FINANCE)
@require_GET
def clinic_payout_notice_xlsx(request: HttpRequest, payment_pk: int) -> HttpResponse:
    return _clinic_notice(request, payment_pk, "xlsx")


# Repayments -------------------------------------------------------------------------------------------------


@region_view()
@require_GET
def repayment_list(request: HttpRequest) -> HttpResponse:
    # ?forsenade=1: only those overdue, as the start page counts them.
    overdue = request.GET.get("forsenade") == "1"
    return render(
        request,
        "payouts/repayment_list.html",
        {
            "overdue": overdue,
            "due_days": selectors.REPAYMENT_DUE_DAYS,
            "open_repayments": selectors.region_repayments(region=request.region, received=False, overdue=overdue),
            "received_repayments": selectors.region_repayments(region=request.region, received=True)[:100],
            "repayment_bankgiro": validators.format_bankgiro(region_rules(request.region).repayment_bankgiro),
        },
    )


@region_view()
@require_http_methods(["GET", "POST"])
def repayment_receive(request: HttpRequest, repayment_pk: int) -> HttpResponse:
    """Markera mottagen: the day the plusgiro clinic's repayment reached the region's bankgiro."""
    repayment = get_object_or_404(
        Repayment.objects.of_region(request.region).select_related("clinic", "credit_invoice__invoice", "received_by"),
        pk=repayment_pk,
    )
    if request.method == "POST":
        form = RepaymentReceivedForm(request.POST)
        if form.is_valid():
            try:
                services.repayment_mark_received(
                    actor=request.user, repayment=repayment, received_on=form.cleaned_data["received_on"]
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    _("Återbetalningen med Vår referens %(reference)s är markerad som mottagen.")
                    % {"reference": repayment.our_reference or repayment.credit_invoice.reference},
                )
                return redirect("repayment_list", region_code=request.region.code)
    else:
        form = RepaymentReceivedForm(initial={"received_on": timezone.localdate()})
    return render(request, "payouts/repayment_receive.html", {"repayment": repayment, "form": form})
