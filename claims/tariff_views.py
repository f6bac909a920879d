"""Ersättningslistor on screen: the region imports and compares versions, a clinic looks codes up.

A tariff holds no personal data, so the clinic's search is a GET with the words in the query string.
"""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from portal.access import Access, clinic_view, region_view
from portal.forms import DATE_WIDGET, DateField, add_service_errors
from portal.middleware import FORM_OVERHEAD_BYTES, max_body

from . import tariffs
from .models import TariffVersion


class TariffImportForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Namn"), max_length=100, help_text=gettext_lazy("T.ex. Taxa 2026."))
    valid_from = DateField(label=gettext_lazy("Gäller från"), widget=DATE_WIDGET)
    valid_to = DateField(
        label=gettext_lazy("Gäller till"),
        widget=DATE_WIDGET,
        required=False,
        help_text=gettext_lazy("Lämna tomt för tills vidare."),
    )
    file = forms.FileField(
        label=gettext_lazy("Fil med ersättningslistan"),
        help_text=gettext_lazy("CSV (UTF-8, semikolon eller komma) eller Excel (.xlsx), högst 10 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


class RegionNamedSelect(forms.Select):
    """Choices named by the region (its tariffs' names), marked as written in Swedish."""

    def create_option(self, *args, **kwargs):
        option = super().create_option(*args, **kwargs)
        option["attrs"]["lang"] = "sv"
        return option


class TariffSearchForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Sök åtgärd"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Kod eller ord ur benämningen, t.ex. 825 eller protes."),
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    version = forms.TypedChoiceField(
        label=gettext_lazy("Ersättningslista"), coerce=int, required=False, widget=RegionNamedSelect
    )

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(version.pk, _version_label(version)) for version in versions]


def _version_label(version: TariffVersion) -> str:
    end = version.valid_to.isoformat() if version.valid_to else _("tills vidare")
    return f"{version.name} ({version.valid_from.isoformat()} – {end})"


# The region ------------------------------------------------------------------------------------------------


@region_view()
@require_GET
def tariff_list(request: HttpRequest) -> HttpResponse:
    versions = tariffs.tariff_versions(region=request.region)
    return render(request, "claims/tariff_list.html", {"versions": versions})


@max_body(10 * 1024 * 1024 + FORM_OVERHEAD_BYTES)
@region_view()
@require_http_methods(["GET", "POST"])
def tariff_import(request: HttpRequest) -> HttpResponse:
    form = TariffImportForm(request.POST, request.FILES) if request.method == "POST" else TariffImportForm()
    row_errors = []
    if form.is_bound and form.is_valid():
        try:
            data = form.cleaned_data
            result = tariffs.tariff_import(
                actor=request.user,
                region=request.region,
                uploaded=data["file"],
                name=data["name"],
                valid_from=data["valid_from"],
                valid_to=data["valid_to"],
            )
        except tariffs.TariffImportRefused as error:
            add_service_errors(form, error)
            row_errors = error.row_errors
        else:
            version = result.version
            if not result.created:
                messages.info(
                    request,
                    _("Samma fil är redan inläst som %(name)s för samma period. Inget har ändrats.")
                    % {"name": version.name},
                )
            else:
                messages.success(
                    request,
                    _("%(name)s är inläst med %(count)s åtgärder.")
                    % {"name": version.name, "count": version.rows.count()},
                )
                if result.ended:
                    messages.info(
                        request,
                        _("%(name)s gäller nu till %(date)s.")
                        % {"name": result.ended.name, "date": result.ended.valid_to.isoformat()},
                    )
            return redirect("tariff_detail", region_code=request.region.code, version_pk=version.pk)
    return render(request, "claims/tariff_import.html", {"form": form, "row_errors": row_errors})


def _render_comparison(request: HttpRequest, version: TariffVersion) -> HttpResponse:
    comparison = tariffs.tariff_compare(version=version, previous=tariffs.tariff_previous(version=version))
    only_changes = request.GET.get("visa") == "andringar" and comparison.previous is not None
    return render(
        request,
        "claims/tariff_compare.html",
        {
            "comparison": comparison,
            "version": version,
            "rows": comparison.changes if only_changes else comparison.rows,
            "only_changes": only_changes,
        },
    )


@region_view()
@require_GET
def tariff_detail(request: HttpRequest, version_pk: int) -> HttpResponse:
    version = get_object_or_404(TariffVersion.objects.of_region(request.region), pk=version_pk)
    return _render_comparison(request, version)


# The clinic ------------------------------------------------------------------------------------------------


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def clinic_tariff(request: HttpRequest) -> HttpResponse:
    versions = list(TariffVersion.objects.of_region(request.region).order_by("-valid_from"))
    current = tariffs.tariff_current(region=request.region, day=timezone.localdate())
    form = TariffSearchForm(request.GET or None, versions=versions, initial={"version": current and current.pk})
    version, query = current, ""
    if form.is_bound and form.is_valid():
        query = form.cleaned_data["q"].strip()
        chosen = form.cleaned_data["version"]
        version = next((v for v in versions if v.pk == chosen), current)
    previous = tariffs.tariff_previous(version=version) if version else None
    rows = tariffs.tariff_rows(version=version, query=query) if version else []
    return render(
        request,
        "claims/tariff_clinic.html",
        {
            "form": form,
            "version": version,
            "is_current": version is not None and version.covers(timezone.localdate()),
            "previous": previous,
            "rows": rows,
            "fields": tariffs.ROW_FIELDS,
            "query": query,
        },
    )


@clinic_view(access=Access.CLINIC_ANY)
@require_GET
def clinic_tariff_changes(request: HttpRequest, version_pk: int) -> HttpResponse:
    version = get_object_or_404(TariffVersion.objects.of_region(request.region), pk=version_pk)
    return _render_comparison(request, version)
