"""The clinic's side of eligibility: its prior assessments (Sök person is in billing.person_views, and the request
form, checked against the tariff, in billing.prior_assessment_views)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from portal.access import clinic_view
from portal.access_shown import AccessShown, AccessShownKind
from portal.audit import access_log_record, access_log_record_many
from portal.forms import add_service_errors
from portal.middleware import max_body
from portal.uploads import MAX_ATTACHMENT_UPLOAD_BYTES, safe_download_name

from . import selectors, services
from .forms import SupplyInformationForm
from .models import PriorAssessment, PriorAssessmentAttachment, PriorAssessmentState


@clinic_view()
@require_GET
def prior_assessment_list(request: HttpRequest) -> HttpResponse:
    # ?visa=komplettering / ?visa=beslut: the start page's lines lead here (selectors.ClinicAssessmentView).
    show = request.GET.get("visa", "")
    if show not in (selectors.ClinicAssessmentView.INFORMATION, selectors.ClinicAssessmentView.DECIDED):
        show = selectors.ClinicAssessmentView.ALL
    assessments = list(selectors.clinic_prior_assessments(clinic=request.clinic, show=show))
    pins = [assessment.patient.personal_identity_number for assessment in assessments]
    if pins:
        access_log_record_many(
            request=request, personal_identity_numbers=pins, shown=AccessShown(AccessShownKind.PRIOR_ASSESSMENTS)
        )
    return render(request, "eligibility/prior_assessment_list.html", {"assessments": assessments, "show": show})


def _clinic_assessment(request: HttpRequest, assessment_pk: int) -> PriorAssessment:
    return get_object_or_404(
        PriorAssessment.objects.of_clinic(request.clinic).select_related("patient", "clinic", "decided_by"),
        pk=assessment_pk,
    )


@clinic_view()
@require_GET
def prior_assessment_detail(request: HttpRequest, assessment_pk: int) -> HttpResponse:
    assessment = _clinic_assessment(request, assessment_pk)
    access_log_record(
        request=request,
        personal_identity_number=assessment.patient.personal_identity_number,
        shown=AccessShown(AccessShownKind.PRIOR_ASSESSMENT, number=assessment.number),
    )
    answer = SupplyInformationForm() if assessment.state == PriorAssessmentState.AWAITING_INFORMATION else None
    return render(request, "eligibility/prior_assessment_detail.html", {"assessment": assessment, "answer": answer})


@max_body(MAX_ATTACHMENT_UPLOAD_BYTES)
@clinic_view()
@require_POST
def prior_assessment_answer(request: HttpRequest, assessment_pk: int) -> HttpResponse:
    assessment = _clinic_assessment(request, assessment_pk)
    form = SupplyInformationForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.prior_assessment_supply_information(
                actor=request.user,
                assessment=assessment,
                text=form.cleaned_data["text"],
                attachments=request.FILES.getlist("attachments"),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Kompletteringen är inskickad."))
            return redirect("prior_assessment_detail", clinic_pk=request.clinic.pk, assessment_pk=assessment.pk)
    return render(
        request, "eligibility/prior_assessment_detail.html", {"assessment": assessment, "answer": form}, status=200
    )


def attachment_response(request: HttpRequest, attachment: PriorAssessmentAttachment) -> FileResponse:
    """Send an attachment as a download, never rendered inline by the browser."""
    access_log_record(
        request=request,
        personal_identity_number=attachment.assessment.patient.personal_identity_number,
        shown=AccessShown(
            AccessShownKind.ATTACHMENT, name=attachment.original_name, number=attachment.assessment.number
        ),
    )
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404 from missing
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=safe_download_name(attachment.original_name),
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@clinic_view()
@require_GET
def prior_assessment_attachment(request: HttpRequest, assessment_pk: int, attachment_pk: int) -> FileResponse:
    assessment = _clinic_assessment(request, assessment_pk)
    attachment = get_object_or_404(assessment.attachments.select_related("assessment__patient"), pk=attachment_pk)
    return attachment_response(request, attachment)
