"""Review of the access log: who looked at a patient's data, or what a user looked at, and the patient's extract.

Patientdatalagen requires that access to patient data is logged and the logs reviewed, and gives the patient the
right to an extract of who has looked at their data. A coordinator (or region administrator) searches their own
region's entries by personnummer or by user within a period, on screen or as an Excel file. The personnummer
only ever travels in a POST body, and every search and export is itself logged.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django import forms
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from clinics.models import ClinicRole, Region, RegionRole, User
from portal.excel import text_cell, workbook_response
from portal.forms import PeriodForm, PersonalIdentityNumberField

from . import validators
from .access import region_view
from .access_shown import AccessShown, AccessShownKind
from .audit import PortalAudit, access_log_record_many, audit_record
from .models import AccessLogEntry

DEFAULT_PERIOD_DAYS = 30
# The page shows the newest rows only; the export holds far more, streamed from the database.
PAGE_MAX_ROWS = 1000
EXPORT_MAX_ROWS = 100_000

ROLE_LABELS = {**dict(ClinicRole.choices), **dict(RegionRole.choices)}


# Form ---------------------------------------------------------------------------------------------------


class AccessLogSearchForm(PeriodForm):
    """Who looked at a patient, or whose patients a user looked at; an empty period means the last 30 days."""

    default_days = DEFAULT_PERIOD_DAYS

    personal_identity_number = PersonalIdentityNumberField(required=False)
    user_email = forms.EmailField(
        label=gettext_lazy("Användare"),
        required=False,
        help_text=gettext_lazy("Användarens e-postadress"),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    field_order = ("personal_identity_number", "user_email", "date_from", "date_to")

    def clean(self):
        cleaned = super().clean()
        pin, email = cleaned.get("personal_identity_number"), cleaned.get("user_email")
        cleaned["user"] = None
        if email:
            cleaned["user"] = User.objects.filter(email__iexact=email).order_by("pk").first()
            if cleaned["user"] is None:
                self.add_error("user_email", _("Det finns ingen användare med den e-postadressen."))
        elif not pin and not (self.has_error("personal_identity_number") or self.has_error("user_email")):
            self.add_error("personal_identity_number", _("Ange ett personnummer eller en användares e-postadress."))
        return cleaned


# Selector -----------------------------------------------------------------------------------------------


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def region_access_log_entries(
    *,
    region: Region,
    date_from: datetime.date,
    date_to: datetime.date,
    personal_identity_number: str = "",
    user: User | None = None,
) -> QuerySet[AccessLogEntry]:
    """The region's entries for a patient and/or a user in the period (both days included), newest first."""
    if not personal_identity_number and user is None:
        raise ValueError("an access log search names a patient or a user")
    entries = AccessLogEntry.objects.of_region(region).filter(
        occurred_at__gte=_start_of(date_from),
        occurred_at__lt=_start_of(date_to + datetime.timedelta(days=1)),
    )
    if personal_identity_number:
        entries = entries.filter(personal_identity_number=personal_identity_number)
    if user is not None:
        entries = entries.filter(user=user)
    return entries.select_related("user", "clinic", "region").order_by("-occurred_at", "-id")


@dataclass(frozen=True)
class AccessLogSearch:
    region: Region
    date_from: datetime.date
    date_to: datetime.date
    personal_identity_number: str = ""
    user: User | None = None

    @classmethod
    def from_form(cls, *, region: Region, form: AccessLogSearchForm) -> AccessLogSearch:
        data = form.cleaned_data
        return cls(
            region=region,
            date_from=data["date_from"],
            date_to=data["date_to"],
            personal_identity_number=data["personal_identity_number"] or "",
            user=data["user"],
        )

    def entries(self) -> QuerySet[AccessLogEntry]:
        return region_access_log_entries(
            region=self.region,
            date_from=self.date_from,
            date_to=self.date_to,
            personal_identity_number=self.personal_identity_number,
            user=self.user,
        )

    @property
    def description(self) -> str:
        parts = []
        if self.personal_identity_number:
            pin = validators.format_personal_identity_number(self.personal_identity_number)
            parts.append(_("personnummer %(pin)s") % {"pin": pin})
        if self.user is not None:
            parts.append(_("användare %(email)s") % {"email": self.user.email})
        parts.append(_("period %(from)s–%(to)s") % {"from": self.date_from, "to": self.date_to})
        return ", ".join(parts)


@dataclass(frozen=True)
class AccessLogRow:
    """One entry as the page and the export show it."""

    occurred_at: datetime.datetime  # local time
    user: str
    role: str
    place: str
    personal_identity_number: str
    shown: str

    @classmethod
    def of(cls, entry: AccessLogEntry) -> AccessLogRow:
        user = entry.user
        return cls(
            occurred_at=timezone.localtime(entry.occurred_at),
            user=f"{user.name} ({user.email})" if user.name else user.email,
            role=str(ROLE_LABELS.get(entry.role, entry.role)),
            place=str(entry.clinic) if entry.clinic else entry.region.name,
            personal_identity_number=entry.personal_identity_number,
            shown=entry.shown_text,
        )


# Service ------------------------------------------------------------------------------------------------


def access_log_search_record(
    *, request: HttpRequest, search: AccessLogSearch, export: bool, pins_shown: Iterable[str] = ()
) -> None:
    """Make the review itself traceable: a patient's search in the access log, a user's in the audit log.

    A search by user shows the personnummer of every patient that user looked at (`pins_shown`): each of them
    is a view of that patient's data, logged as such.
    """
    shown = AccessShown(AccessShownKind.ACCESS_LOG_EXPORT if export else AccessShownKind.ACCESS_LOG_SEARCH)
    pins = set(pins_shown)
    if search.personal_identity_number:
        pins.add(search.personal_identity_number)
    else:
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action=PortalAudit.ACCESS_LOG_SEARCHED,
                obj=search.user,
                after={"from": search.date_from.isoformat(), "to": search.date_to.isoformat(), "export": export},
                region=request.region,
            )
    if pins:
        access_log_record_many(request=request, personal_identity_numbers=pins, shown=shown)


# Views --------------------------------------------------------------------------------------------------


@region_view()
@require_http_methods(["GET", "POST"])
@never_cache
def access_log_review(request: HttpRequest) -> HttpResponse:
    form = AccessLogSearchForm(request.POST or None)
    context: dict = {"form": form}
    if request.method == "POST" and form.is_valid():
        search = AccessLogSearch.from_form(region=request.region, form=form)
        if "export" in request.POST:
            return _export_response(request, search)
        entries = list(search.entries()[: PAGE_MAX_ROWS + 1])
        access_log_search_record(
            request=request,
            search=search,
            export=False,
            pins_shown=[entry.personal_identity_number for entry in entries[:PAGE_MAX_ROWS]],
        )
        context.update(
            search=search,
            rows=[AccessLogRow.of(entry) for entry in entries[:PAGE_MAX_ROWS]],
            cut=len(entries) > PAGE_MAX_ROWS,
            max_rows=PAGE_MAX_ROWS,
        )
    return render(request, "portal/access_log.html", context)


def _export_response(request: HttpRequest, search: AccessLogSearch) -> HttpResponse:
    exported_at = timezone.localtime()
    entries = search.entries()
    total = entries.count()

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Åtkomstlogg"))
    for column, width in zip("ABCDEF", (20, 40, 22, 36, 16, 40), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append([text_cell(sheet, _("Åtkomstlogg för %(region)s") % {"region": search.region.name})])
    sheet.append([text_cell(sheet, _("Sökning: %(search)s") % {"search": search.description})])
    exported = _("Exporterad %(time)s av %(user)s") % {
        "time": f"{exported_at:%Y-%m-%d %H:%M}",
        "user": request.user.email,
    }
    sheet.append([text_cell(sheet, exported)])
    if total > EXPORT_MAX_ROWS:
        note = _("Urvalet har %(total)s rader; de %(max)s senaste är med. Begränsa perioden för att få resten.")
        sheet.append([text_cell(sheet, note % {"total": total, "max": EXPORT_MAX_ROWS})])
    sheet.append([])
    headings = [_("Tidpunkt"), _("Användare"), _("Roll"), _("Klinik"), _("Personnummer"), _("Visat")]
    sheet.append([text_cell(sheet, heading) for heading in headings])
    pins_shown = set()
    for entry in entries[:EXPORT_MAX_ROWS].iterator(chunk_size=2000):
        row = AccessLogRow.of(entry)
        pins_shown.add(row.personal_identity_number)
        when = WriteOnlyCell(
            sheet, value=row.occurred_at.replace(tzinfo=None, microsecond=0)
        )  # Excel has no time zones
        when.number_format = "yyyy-mm-dd hh:mm:ss"
        sheet.append(
            [
                when,
                text_cell(sheet, row.user),
                text_cell(sheet, row.role),
                text_cell(sheet, row.place),
                text_cell(sheet, validators.format_personal_identity_number(row.personal_identity_number)),
                text_cell(sheet, row.shown),
            ]
        )
    access_log_search_record(request=request, search=search, export=True, pins_shown=pins_shown)
    # The file name says whose region and when, never whose personnummer.
    return workbook_response(workbook, f"atkomstlogg-{search.region.code}-{exported_at:%Y%m%d-%H%M%S}.xlsx")
