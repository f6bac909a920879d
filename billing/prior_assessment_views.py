"""Begär förhandsbedömning: the clinic's FHB request, checked against the region's tariff as a claim is.

Here rather than in eligibility: the planned lines are checked by the claims rules (`claims.validation`), which
eligibility does not import. "Lägg till rad" adds an empty planned line by a POST that keeps what was typed;
with JavaScript (static/js/planned-lines.js) the row is added without reloading.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from claims.drafts import Fault, LineDraft
from clinics.models import PatientCategory
from eligibility.forms import MAX_PLANNED_LINES, PlannedLineForm, PlannedLineFormSet, PriorAssessmentRequestForm
from portal.access import clinic_view
from portal.forms import add_service_errors
from portal.middleware import max_body
from portal.uploads import MAX_ATTACHMENT_UPLOAD_BYTES

from .services import PriorAssessmentRejected, prior_assessment_request

TEMPLATE = "eligibility/prior_assessment_new.html"
LINE_FIELDS = tuple(PlannedLineForm.base_fields)
# Where a planned line's fault is shown: the part of the line `Fault.line_field` names.
LINE_FAULT_FIELDS = {"code": "code", "tooth": "tooth", "jaw": "jaw", "price": "estimated_price"}


def _categories(request: HttpRequest):
    return PatientCategory.objects.of_region(request.clinic.region).order_by("support_form", "code")


def _with_one_more_line(request: HttpRequest) -> tuple[PriorAssessmentRequestForm, PlannedLineFormSet]:
    """The page again with what was typed (attachments aside: a browser sends files only with the request) and
    one empty planned line more, without faults: nothing was sent yet."""
    data = request.POST
    try:
        count = min(int(data.get("lines-TOTAL_FORMS", "0")), MAX_PLANNED_LINES - 1)
    except ValueError:
        count = 0
    rows = [{name: data.get(f"lines-{index}-{name}", "") for name in LINE_FIELDS} for index in range(count)]
    form = PriorAssessmentRequestForm(
        initial={name: data.get(name, "") for name in PriorAssessmentRequestForm.base_fields if name != "attachments"},
        categories=_categories(request),
    )
    lines = PlannedLineFormSet(initial=rows, prefix="lines")
    lines.extra = 1
    return form, lines


def _place(form: PriorAssessmentRequestForm, lines: PlannedLineFormSet, faults: list[Fault], places: list[int]):
    for fault in faults:
        if fault.line is not None:
            line_form = lines.forms[places[fault.line]]
            line_form.add_error(LINE_FAULT_FIELDS.get(fault.line_field, "code"), fault.message)
        elif fault.field == "patient_category":
            form.add_error("patient_category", fault.message)
        else:
            form.add_error(None, fault.message)


@max_body(MAX_ATTACHMENT_UPLOAD_BYTES)
@clinic_view()
@require_http_methods(["GET", "POST"])
def prior_assessment_new(request: HttpRequest) -> HttpResponse:
    categories = _categories(request)
    if "prefill" in request.POST:
        # From Sök person: start a request for the patient just looked up (the number stays out of the URL).
        form = PriorAssessmentRequestForm(
            initial={"personal_identity_number": request.POST.get("prefill", "")}, categories=categories
        )
        return render(request, TEMPLATE, {"form": form, "lines": PlannedLineFormSet(prefix="lines")})
    if "add_line" in request.POST:
        form, lines = _with_one_more_line(request)
        return render(request, TEMPLATE, {"form": form, "lines": lines})
    form = PriorAssessmentRequestForm(request.POST or None, request.FILES or None, categories=categories)
    lines = PlannedLineFormSet(request.POST or None, prefix="lines")
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        data = form.cleaned_data
        places = [index for index, line_form in enumerate(lines.forms) if line_form.cleaned_data.get("code")]
        drafts = [
            LineDraft(
                visit_date=data["planned_date"],
                code=lines.forms[index].cleaned_data["code"].strip(),
                tooth=lines.forms[index].cleaned_data["tooth"].strip(),
                jaw=lines.forms[index].cleaned_data["jaw"],
                price=lines.forms[index].cleaned_data["estimated_price"],
            )
            for index in places
        ]
        try:
            assessment = prior_assessment_request(
                actor=request.user,
                clinic=request.clinic,
                personal_identity_number=data["personal_identity_number"],
                support_form=data["support_form"],
                patient_category=data["patient_category"],
                planned_date=data["planned_date"],
                justification=data["justification"],
                lines=drafts,
                attachments=request.FILES.getlist("attachments"),
            )
        except PriorAssessmentRejected as rejected:
            _place(form, lines, rejected.faults, places)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Förhandsbedömning %(number)s är inskickad.") % {"number": assessment.number})
            return redirect("prior_assessment_detail", clinic_pk=request.clinic.pk, assessment_pk=assessment.pk)
    return render(request, TEMPLATE, {"form": form, "lines": lines})
