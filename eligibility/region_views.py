"""The region's side of eligibility: certificates and the prior-assessment queue."""

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

from portal.access import region_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record
from portal.forms import add_service_errors
from portal.middleware import FORM_OVERHEAD_BYTES, max_body

from . import imports, selectors, services
from .forms import (
    CertificateEndForm,
    CertificateForm,
    CertificateRevokeForm,
    CertificateSearchForm,
    DecisionForm,
    FreeCardCorrectForm,
    FreeCardEndForm,
    InformationRequestForm,
)
from .models import Certificate, CertificateImport, FreeCard, PriorAssessment, PriorAssessmentState
from .views import attachment_response


def _render_certificates(request: HttpRequest, form: CertificateSearchForm) -> HttpResponse:
    pin = form.cleaned_data["personal_identity_number"]
    certificates = selectors.patient_certificates(region=request.region, personal_identity_number=pin)
    free_cards = selectors.patient_free_cards(region=request.region, personal_identity_number=pin)
    access_log_record(request=request, personal_identity_number=pin, shown=AccessShown(AccessShownKind.CERTIFICATES))
    return render(
        request,
        "eligibility/region/certificates.html",
        {"form": form, "certificates": certificates, "free_cards": free_cards, "pin": pin},
    )


@region_view()
@require_http_methods(["GET", "POST"])
def certificate_search(request: HttpRequest) -> HttpResponse:
    form = CertificateSearchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return _render_certificates(request, form)
    return render(request, "eligibility/region/certificates.html", {"form": form})


@region_view()
@require_http_methods(["GET", "POST"])
def certificate_new(request: HttpRequest) -> HttpResponse:
    form = CertificateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            certificate = services.certificate_register(actor=request.user, region=request.region, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Intyg %(number)s är registrerat.") % {"number": certificate.number})
            search = CertificateSearchForm({"personal_identity_number": certificate.patient.personal_identity_number})
            search.is_valid()
            return _render_certificates(request, search)
    return render(request, "eligibility/region/certificate_form.html", {"form": form})


def _region_certificate(request: HttpRequest, certificate_pk: int) -> Certificate:
    return get_object_or_404(Certificate.objects.of_region(request.region).select_related("patient"), pk=certificate_pk)


def _certificate_change(request, certificate_pk, form_class, change, title, done, shown):
    certificate = _region_certificate(request, certificate_pk)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change(certificate, form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, done)
            search = CertificateSearchForm({"personal_identity_number": certificate.patient.personal_identity_number})
            search.is_valid()
            return _render_certificates(request, search)
    access_log_record(
        request=request, personal_identity_number=certificate.patient.personal_identity_number, shown=shown
    )
    return render(
        request,
        "eligibility/region/certificate_change.html",
        {"form": form, "certificate": certificate, "title": title},
    )


@region_view()
@require_http_methods(["GET", "POST"])
def certificate_end(request: HttpRequest, certificate_pk: int) -> HttpResponse:
    return _certificate_change(
        request,
        certificate_pk,
        CertificateEndForm,
        lambda c, data: services.certificate_end(actor=request.user, certificate=c, valid_to=data["valid_to"]),
        _("Avsluta intyg"),
        _("Intyget är avslutat."),
        AccessShown(AccessShownKind.CERTIFICATE_END),
    )


@region_view()
@require_http_methods(["GET", "POST"])
def certificate_revoke(request: HttpRequest, certificate_pk: int) -> HttpResponse:
    return _certificate_change(
        request,
        certificate_pk,
        CertificateRevokeForm,
        lambda c, data: services.certificate_revoke(actor=request.user, certificate=c, **data),
        _("Återkalla intyg"),
        _("Intyget är återkallat."),
        AccessShown(AccessShownKind.CERTIFICATE_REVOKE),
    )


def _region_free_card(request: HttpRequest, free_card_pk: int) -> FreeCard:
    return get_object_or_404(FreeCard.objects.of_region(request.region).select_related("patient"), pk=free_card_pk)


def _free_card_change(request, free_card_pk, form_class, initial, change, title, done, shown):
    card = _region_free_card(request, free_card_pk)
    form = form_class(request.POST or None, initial=initial(card))
    if request.method == "POST" and form.is_valid():
        try:
            change(card, form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, done)
            search = CertificateSearchForm({"personal_identity_number": card.patient.personal_identity_number})
            search.is_valid()
            return _render_certificates(request, search)
    access_log_record(request=request, personal_identity_number=card.patient.personal_identity_number, shown=shown)
    return render(request, "eligibility/region/free_card_change.html", {"form": form, "card": card, "title": title})


@region_view()
@require_http_methods(["GET", "POST"])
def free_card_end(request: HttpRequest, free_card_pk: int) -> HttpResponse:
    return _free_card_change(
        request,
        free_card_pk,
        FreeCardEndForm,
        lambda card: {"valid_to": card.valid_to},
        lambda card, data: services.free_card_end(actor=request.user, card=card, **data),
        _("Avsluta frikort"),
        _("Frikortet är avslutat."),
        AccessShown(AccessShownKind.FREE_CARD_END),
    )


@region_view()
@require_http_methods(["GET", "POST"])
def free_card_correct(request: HttpRequest, free_card_pk: int) -> HttpResponse:
    return _free_card_change(
        request,
        free_card_pk,
        FreeCardCorrectForm,
        lambda card: {"number": card.number, "valid_from": card.valid_from, "valid_to": card.valid_to},
        lambda card, data: services.free_card_correct(actor=request.user, card=card, **data),
        _("Rätta frikort"),
        _("Frikortet är rättat."),
        AccessShown(AccessShownKind.FREE_CARD_CORRECT),
    )


@region_view()
@require_GET
def assessment_queue(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("status", "open")
    assessments = selectors.region_prior_assessments(region=request.region)
    if state == "open":
        assessments = assessments.filter(
            state__in=[
                PriorAssessmentState.SUBMITTED,
                PriorAssessmentState.IN_REVIEW,
                PriorAssessmentState.INFORMATION_RECEIVED,
            ]
        )
    elif state in PriorAssessmentState.values:
        assessments = assessments.filter(state=state)
    return render(
        request,
        "eligibility/region/assessment_queue.html",
        {"assessments": assessments, "state": state, "states": PriorAssessmentState.choices},
    )


def _region_assessment(request: HttpRequest, assessment_pk: int) -> PriorAssessment:
    return get_object_or_404(
        PriorAssessment.objects.of_region(request.region).select_related("patient", "clinic", "decided_by"),
        pk=assessment_pk,
    )


def _render_assessment(request, assessment, decision=None, information=None, status=200):
    access_log_record(
        request=request,
        personal_identity_number=assessment.patient.personal_identity_number,
        shown=AccessShown(AccessShownKind.PRIOR_ASSESSMENT, number=assessment.number),
    )
    if assessment.is_open_for_decision:
        decision = decision or DecisionForm(lines=assessment.lines.all())
        information = information or InformationRequestForm()
    certificates = selectors.patient_certificates(
        region=request.region, personal_identity_number=assessment.patient.personal_identity_number
    )
    return render(
        request,
        "eligibility/region/assessment_detail.html",
        {"assessment": assessment, "decision": decision, "information": information, "certificates": certificates},
        status=status,
    )


@region_view()
@require_GET
def assessment_detail(request: HttpRequest, assessment_pk: int) -> HttpResponse:
    return _render_assessment(request, _region_assessment(request, assessment_pk))


@region_view()
@require_POST
def assessment_start_review(request: HttpRequest, assessment_pk: int) -> HttpResponse:
    assessment = _region_assessment(request, assessment_pk)
    try:
        services.prior_assessment_start_review(actor=request.user, assessment=assessment)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("region_assessment_detail", region_code=request.region.code, assessment_pk=assessment.pk)


@region_view()
@require_POST
def assessment_decide(request: HttpRequest, assessment_pk: int) -> HttpResponse:
    assessment = _region_assessment(request, assessment_pk)
    form = DecisionForm(request.POST, lines=assessment.lines.all())
    if form.is_valid():
        try:
            services.prior_assessment_decide(
                actor=request.user,
                assessment=assessment,
                approved_amounts=form.approved_amounts(),
                reason=form.cleaned_data["reason"],
                valid_until=form.cleaned_data["valid_until"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            assessment.refresh_from_db()
            messages.success(request, _("Beslutet är sparat: %(state)s.") % {"state": assessment.get_state_display()})
            return redirect("region_assessment_detail", region_code=request.region.code, assessment_pk=assessment.pk)
    assessment.refresh_from_db()
    return _render_assessment(request, assessment, decision=form)


@region_view()
@require_POST
def assessment_request_information(request: HttpRequest, assessment_pk: int) -> HttpResponse:
    assessment = _region_assessment(request, assessment_pk)
    form = InformationRequestForm(request.POST)
    if form.is_valid():
        try:
            services.prior_assessment_request_information(
                actor=request.user,
                assessment=assessment,
                question=form.cleaned_data["question"],
                deadline=form.cleaned_data["deadline"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Kliniken har ombetts att komplettera."))
            return redirect("region_assessment_detail", region_code=request.region.code, assessment_pk=assessment.pk)
    assessment.refresh_from_db()
    return _render_assessment(request, assessment, information=form)


@region_view()
@require_GET
def assessment_attachment(request: HttpRequest, assessment_pk: int, attachment_pk: int):
    assessment = _region_assessment(request, assessment_pk)
    attachment = get_object_or_404(assessment.attachments.select_related("assessment__patient"), pk=attachment_pk)
    return attachment_response(request, attachment)


# Importing certificates from the region's register ------------------------------------------------------


class CertificateImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Fil från intygsregistret"),
        help_text=gettext_lazy("CSV (UTF-8, semikolon eller komma) eller Excel (.xlsx), högst 10 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


@max_body(10 * 1024 * 1024 + FORM_OVERHEAD_BYTES)
@region_view()
@require_http_methods(["GET", "POST"])
def certificate_import(request: HttpRequest) -> HttpResponse:
    form = CertificateImportForm(request.POST, request.FILES) if request.method == "POST" else CertificateImportForm()
    if form.is_bound and form.is_valid():
        try:
            certificate_import = imports.certificate_import_start(
                actor=request.user, region=request.region, uploaded=form.cleaned_data["file"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            earlier = (
                CertificateImport.objects.of_region(request.region)
                .filter(sha256=certificate_import.sha256)
                .exclude(pk=certificate_import.pk)
                .first()
            )
            if earlier:
                messages.info(
                    request,
                    _("Samma fil importerades redan %(when)s. Intyg som inte har ändrats lämnas som de är.")
                    % {"when": timezone.localtime(earlier.created_at).strftime("%Y-%m-%d %H:%M")},
                )
            return redirect(
                "certificate_import_detail", region_code=request.region.code, import_pk=certificate_import.pk
            )
    recent = CertificateImport.objects.of_region(request.region).select_related("uploaded_by")[:20]
    return render(request, "eligibility/region/import_upload.html", {"form": form, "imports": recent})


def _region_import(request: HttpRequest, import_pk: int) -> CertificateImport:
    return get_object_or_404(
        CertificateImport.objects.of_region(request.region).select_related("uploaded_by"), pk=import_pk
    )


@region_view()
@require_GET
@never_cache
def certificate_import_detail(request: HttpRequest, import_pk: int) -> HttpResponse:
    certificate_import = _region_import(request, import_pk)
    return render(
        request,
        "eligibility/region/import_detail.html",
        {
            "certificate_import": certificate_import,
            "waiting": not (certificate_import.is_finished or certificate_import.is_stalled),
        },
    )


@region_view()
@require_GET
@never_cache
def certificate_import_status(request: HttpRequest, import_pk: int) -> JsonResponse:
    """For static/js/progress.js: where the import stands, without the rows' personal data."""
    certificate_import = _region_import(request, import_pk)
    return JsonResponse(
        {
            "state": certificate_import.state,
            "state_label": str(certificate_import.get_state_display()),
            "finished": certificate_import.is_finished or certificate_import.is_stalled,
            "processed": certificate_import.processed_rows,
            "total": certificate_import.total_rows,
            "created": certificate_import.created_count,
            "unchanged": certificate_import.unchanged_count,
            "updated": certificate_import.updated_count,
            "errors": certificate_import.error_count,
        }
    )
