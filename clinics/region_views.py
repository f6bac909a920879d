"""Region administration (issue 15, point 3): the region administrator adds and edits clinics, invites and removes
the region's people, and changes the region's rules from a date. Coordinators see the rules and their history."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.access import is_region_admin, region_view
from portal.audit import audit_action_label
from portal.forms import add_service_errors

from . import region_services, selectors
from .models import CareModel, Clinic, PatientCategory, RegionMembership, RegionRules
from .region_forms import (
    CareModelForm,
    PatientCategoryForm,
    RegionClinicForm,
    RegionRoleForm,
    RegionRulesForm,
    RegionUserForm,
)
from .rules import region_rule_versions, region_rules


def _field_labels() -> dict[str, str]:
    """What the history calls each recorded field: the models' own labels, in the reader's language."""
    labels: dict[str, str] = {"valid_from": _("Gäller från"), "user": _("Person")}
    for model in (RegionRules, Clinic, CareModel, PatientCategory, RegionMembership):
        for field in model._meta.fields:
            labels.setdefault(field.name, str(field.verbose_name))
    return labels


def _shown(value) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "–"
    return str(value)


def history_rows(events) -> list[dict]:
    """Audited changes as the pages list them: when, what, who, and each recorded field before and after."""
    labels = _field_labels()
    rows = []
    for event in events:
        before, after = event.before or {}, event.after or {}
        names = list(dict.fromkeys([*before, *after]))
        changes = [
            {"label": labels.get(name, name), "before": _shown(before.get(name)), "after": _shown(after.get(name))}
            for name in names
        ]
        rows.append({"event": event, "label": audit_action_label(event.action), "changes": changes})
    return rows


_history = history_rows


def _or_404(get, *args, **kwargs):
    try:
        return get(*args, **kwargs)
    except ObjectDoesNotExist as missing:
        raise Http404 from missing


# Clinics ---------------------------------------------------------------------------------------------------------


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def clinic_new(request: HttpRequest) -> HttpResponse:
    form = RegionClinicForm(request.POST or None, instance=Clinic(region=request.region))
    if request.method == "POST" and form.is_valid():
        try:
            clinic = region_services.clinic_create(actor=request.user, region=request.region, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Kliniken %(clinic)s är tillagd.") % {"clinic": clinic})
            return redirect("region_clinic_detail", region_code=request.region.code, clinic_number=clinic.number)
    return render(request, "clinics/region_clinic_form.html", {"form": form, "clinic": None})


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def clinic_edit(request: HttpRequest, clinic_number: str) -> HttpResponse:
    clinic = _or_404(selectors.region_clinic_get, region=request.region, number=clinic_number)
    pending = selectors.account_change_pending(clinic=clinic)
    form = RegionClinicForm(request.POST or None, instance=clinic)
    if request.method == "POST" and form.is_valid():
        try:
            clinic = region_services.clinic_update_by_region(actor=request.user, clinic=clinic, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Klinikens uppgifter är sparade."))
            if pending is None and selectors.account_change_pending(clinic=clinic) is not None:
                messages.warning(
                    request,
                    _(
                        "Det nya kontot gäller först när en samordnare i regionen eller en lokal administratör på "
                        "kliniken har bekräftat det. Utbetalningar går till det gamla kontot tills dess."
                    ),
                )
            return redirect("region_clinic_detail", region_code=request.region.code, clinic_number=clinic.number)
    return render(
        request, "clinics/region_clinic_form.html", {"form": form, "clinic": clinic, "pending_change": pending}
    )


# The region's people -----------------------------------------------------------------------------------------------


@region_view(admin=True)
@require_GET
def people(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "clinics/region_people.html",
        {
            "people": selectors.region_people(region=request.region),
            "history": _history(
                selectors.region_history(region=request.region, actions=selectors.REGION_PEOPLE_ACTIONS)
            ),
        },
    )


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def person_new(request: HttpRequest) -> HttpResponse:
    form = RegionUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = region_services.region_user_invite(
                actor=request.user, region=request.region, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("%(name)s har fått rollen %(role)s och ett e-postmeddelande.")
                % {"name": membership.user, "role": membership.get_role_display()},
            )
            return redirect("region_people", region_code=request.region.code)
    return render(request, "clinics/region_person_new.html", {"form": form})


def _membership(request: HttpRequest, region_membership_pk: int) -> RegionMembership:
    return _or_404(selectors.region_membership_get, region=request.region, membership_pk=region_membership_pk)


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def person_role(request: HttpRequest, region_membership_pk: int) -> HttpResponse:
    membership = _membership(request, region_membership_pk)
    form = RegionRoleForm(request.POST or None, initial={"role": membership.role})
    if request.method == "POST" and form.is_valid():
        try:
            region_services.region_membership_change_role(
                actor=request.user, membership=membership, role=form.cleaned_data["role"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Rollen för %(name)s är ändrad.") % {"name": membership.user})
            return redirect("region_people", region_code=request.region.code)
    return render(request, "clinics/region_person_role.html", {"form": form, "membership": membership})


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def person_remove(request: HttpRequest, region_membership_pk: int) -> HttpResponse:
    membership = _membership(request, region_membership_pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            region_services.region_membership_remove(actor=request.user, membership=membership)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(
                request,
                _("%(name)s har inte längre rollen %(role)s i regionen.")
                % {"name": membership.user, "role": membership.get_role_display()},
            )
            if membership.user_id == request.user.pk:
                return redirect("home")
            return redirect("region_people", region_code=request.region.code)
    return render(request, "clinics/region_person_remove.html", {"membership": membership, "errors": errors})


# The region's rules -------------------------------------------------------------------------------------------------


@region_view()
@require_GET
def rules(request: HttpRequest) -> HttpResponse:
    """Regionens regler: those in force today, the versions before and planned, the code lists and who changed
    what when. Coordinators read; the region's administrators change."""
    region = request.region
    return render(
        request,
        "clinics/region_rules.html",
        {
            "rules": region_rules(region),
            "versions": region_rule_versions(region),
            "care_models": selectors.region_care_models(region=region),
            "patient_categories": selectors.region_patient_categories(region=region),
            "history": _history(selectors.region_history(region=region, actions=selectors.REGION_RULE_ACTIONS)),
            "is_region_admin": is_region_admin(request),
            "today": timezone.localdate(),
        },
    )


def _category_codes(region) -> set[str]:
    return set(selectors.region_patient_categories(region=region).values_list("code", flat=True))


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def rules_edit(request: HttpRequest) -> HttpResponse:
    region = request.region
    form = RegionRulesForm(
        request.POST or None,
        initial=RegionRulesForm.initial_from(region_rules(region)),
        region_codes=_category_codes(region),
    )
    if request.method == "POST" and form.is_valid():
        try:
            version = region_services.region_rules_set(
                actor=request.user, region=region, valid_from=form.cleaned_data["valid_from"], **form.rules()
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if version is None:
                messages.info(request, _("Reglerna är desamma som redan gäller den dagen. Inget är ändrat."))
            else:
                messages.success(
                    request,
                    _("Regionens regler är sparade och gäller från %(date)s.")
                    % {"date": version.valid_from.isoformat()},
                )
            return redirect("region_rules", region_code=region.code)
    return render(request, "clinics/region_rules_form.html", {"form": form})


@region_view(admin=True)
@require_POST
def rules_withdraw(request: HttpRequest, rules_pk: int) -> HttpResponse:
    version = _or_404(selectors.region_rules_version_get, region=request.region, pk=rules_pk)
    try:
        region_services.region_rules_withdraw(actor=request.user, version=version)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("Den planerade ändringen från %(date)s är borttagen.") % {"date": version.valid_from.isoformat()},
        )
    return redirect("region_rules", region_code=request.region.code)


def _code_page(request: HttpRequest, kind, form_class, instance=None) -> HttpResponse:
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            region_services.region_code_save(
                actor=request.user, region=request.region, kind=kind, instance=instance, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Listan är sparad."))
            return redirect("region_rules", region_code=request.region.code)
    return render(
        request,
        "clinics/region_code_form.html",
        {
            "form": form,
            "instance": instance,
            "is_care_model": kind is CareModel,
            "in_use": instance is not None and region_services.code_in_use(instance),
        },
    )


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def care_model_new(request: HttpRequest) -> HttpResponse:
    return _code_page(request, CareModel, CareModelForm)


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def care_model_edit(request: HttpRequest, care_model_pk: int) -> HttpResponse:
    instance = _or_404(selectors.region_care_model_get, region=request.region, pk=care_model_pk)
    return _code_page(request, CareModel, CareModelForm, instance)


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def patient_category_new(request: HttpRequest) -> HttpResponse:
    return _code_page(request, PatientCategory, PatientCategoryForm)


@region_view(admin=True)
@require_http_methods(["GET", "POST"])
def patient_category_edit(request: HttpRequest, category_pk: int) -> HttpResponse:
    instance = _or_404(selectors.region_patient_category_get, region=request.region, pk=category_pk)
    return _code_page(request, PatientCategory, PatientCategoryForm, instance)
