"""Ladda upp fakturafil: the upload, the check's progress and result, the error list, sending and discarding."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from openpyxl import Workbook

from agreements.selectors import AgreementStanding, agreement_standing
from claims.models import InvoiceFileFault, InvoiceFileState, InvoiceFileUpload
from portal import validators
from portal.access import clinic_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record_many
from portal.background import progress_response
from portal.excel import text_cell, workbook_response
from portal.forms import add_service_errors
from portal.middleware import FORM_OVERHEAD_BYTES, max_body

from . import invoice_file_services as services
from .services import AgreementUnsigned

RECENT_UPLOADS = 20


class InvoiceFileForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Välj fil på datorn"),
        help_text=gettext_lazy("Fakturafil (XML) från journalsystemet, högst 50 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xml,application/xml,text/xml"}),
    )
    review_only = forms.BooleanField(
        label=gettext_lazy("Granska endast"),
        help_text=gettext_lazy("Filen kontrolleras men kan inte skickas in."),
        required=False,
    )


def _upload_of_clinic(request: HttpRequest, upload_pk: int) -> InvoiceFileUpload:
    # Another clinic's upload is a 404, never a 403 that confirms it exists.
    return get_object_or_404(
        InvoiceFileUpload.objects.of_clinic(request.clinic).select_related("uploaded_by", "invoice"), pk=upload_pk
    )


def _log_shown(request: HttpRequest, faults: list[InvoiceFileFault], shown: AccessShown) -> None:
    # The number as the list shows it, in the access log's form (not cut from "20000101-2384" to "20000101-238").
    shown_pins = {fault.personal_identity_number.strip() for fault in faults}
    pins = {validators.personal_identity_number_as_logged(pin) for pin in shown_pins if pin} - {""}
    if pins:
        access_log_record_many(request=request, personal_identity_numbers=pins, shown=shown)


def _agreement_standing(request: HttpRequest) -> AgreementStanding:
    """For the banner: whether the clinic may send (the gate itself is asked by Ladda upp)."""
    return agreement_standing(clinic=request.clinic, today=timezone.localdate())


def _when(upload: InvoiceFileUpload) -> str:
    return timezone.localtime(upload.created_at).strftime("%Y-%m-%d %H:%M")


@max_body(services.MAX_FILE_SIZE + FORM_OVERHEAD_BYTES)
@clinic_view()
@require_http_methods(["GET", "POST"])
def invoice_file_upload(request: HttpRequest) -> HttpResponse:
    form = InvoiceFileForm(request.POST, request.FILES) if request.method == "POST" else InvoiceFileForm()
    if form.is_bound and form.is_valid():
        try:
            started = services.invoice_file_start(
                actor=request.user,
                clinic=request.clinic,
                uploaded=form.cleaned_data["file"],
                review_only=form.cleaned_data["review_only"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if started.earlier:
                messages.info(
                    request,
                    _("Filen laddades redan upp den %(when)s. Den skickas inte en gång till.")
                    % {"when": _when(started.upload)},
                )
            elif started.queue_waits:
                messages.warning(
                    request,
                    _("Filen är mottagen och sparad. Kontrollen startar när kön för bakgrundsarbete fungerar igen."),
                )
            else:
                messages.success(request, _("Filen är mottagen och kontrolleras nu."))
            return redirect("invoice_file_detail", clinic_pk=request.clinic.pk, upload_pk=started.upload.pk)
    recent = InvoiceFileUpload.objects.of_clinic(request.clinic).select_related("uploaded_by")[:RECENT_UPLOADS]
    return render(
        request,
        "billing/file_upload.html",
        {"form": form, "uploads": recent, "agreement_standing": _agreement_standing(request)},
    )


@clinic_view()
@require_GET
@never_cache
def invoice_file_detail(request: HttpRequest, upload_pk: int) -> HttpResponse:
    upload = _upload_of_clinic(request, upload_pk)
    shows_faults = upload.state in (InvoiceFileState.CHECKED, InvoiceFileState.SENDING, InvoiceFileState.SENT)
    faults = list(upload.faults.all()) if shows_faults else []
    _log_shown(request, faults, AccessShown(AccessShownKind.INVOICE_FILE_FAULTS))
    printing = request.GET.get("utskrift") == "1"
    deadline_warnings = []
    if upload.state == InvoiceFileState.CHECKED and not printing:
        deadline_warnings = services.invoice_file_deadline_warnings(upload=upload, today=timezone.localdate())
    # An umbrella organisation's file sends one invoice per clinic: each is named with its clinic.
    clinic_invoices = []
    if upload.state == InvoiceFileState.SENT:
        clinic_invoices = list(upload.invoices.select_related("clinic").order_by("clinic__number"))
    return render(
        request,
        "billing/file_print.html" if printing else "billing/file_detail.html",
        {
            "upload": upload,
            "clinic_invoices": clinic_invoices if len(clinic_invoices) > 1 else [],
            "faults": faults,
            "waiting": upload.is_busy and not upload.is_stalled,
            "deadline_warnings": deadline_warnings,
            "agreement_standing": _agreement_standing(request),
        },
    )


@clinic_view()
@require_GET
@never_cache
def invoice_file_status(request: HttpRequest, upload_pk: int) -> JsonResponse:
    """For static/js/progress.js: where the check stands, without the claims' personal data."""
    upload = _upload_of_clinic(request, upload_pk)
    return progress_response(
        upload,
        finished=not upload.is_busy or upload.is_stalled,
        processed=upload.processed_count,
        total=upload.claim_count,
        errors=upload.faulty_count,
    )


@clinic_view()
@require_GET
def invoice_file_errors_excel(request: HttpRequest, upload_pk: int) -> HttpResponse:
    """The error list as Excel: Kliniknummer, Räkningsnummer, Personnummer, Felmeddelande."""
    upload = _upload_of_clinic(request, upload_pk)
    faults = list(upload.faults.all())
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Fellista"))
    for column, width in zip("ABCD", (14, 22, 16, 80), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append([text_cell(sheet, _("Fellista för %(file)s") % {"file": upload.original_name})])
    sheet.append([])
    headings = [_("Kliniknummer"), _("Räkningsnummer"), _("Personnummer"), _("Felmeddelande")]
    sheet.append([text_cell(sheet, heading) for heading in headings])
    for fault in faults:
        sheet.append(
            [
                text_cell(sheet, fault.clinic_number),
                text_cell(sheet, fault.claim_reference),
                text_cell(sheet, fault.personal_identity_number),
                text_cell(sheet, fault.text),
            ]
        )
    _log_shown(request, faults, AccessShown(AccessShownKind.INVOICE_FILE_FAULTS_EXPORT))
    # The file name says whose file, never whose personnummer.
    return workbook_response(workbook, f"fellista-{request.clinic.number}-{upload.pk}.xlsx")


@clinic_view()
@require_POST
def invoice_file_send(request: HttpRequest, upload_pk: int) -> HttpResponse:
    upload = _upload_of_clinic(request, upload_pk)
    try:
        services.invoice_file_send_start(actor=request.user, upload=upload)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    except AgreementUnsigned as refused:
        messages.error(request, refused.message)
    return redirect("invoice_file_detail", clinic_pk=request.clinic.pk, upload_pk=upload.pk)


@clinic_view()
@require_POST
def invoice_file_discard(request: HttpRequest, upload_pk: int) -> HttpResponse:
    upload = _upload_of_clinic(request, upload_pk)
    services.invoice_file_discard(actor=request.user, upload=upload)
    return redirect("invoice_file_upload", clinic_pk=request.clinic.pk)
