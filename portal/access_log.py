"""Review of the access log: who looked at a patient's data, or what a user looked at, and the patient's extract.

Patientdatalagen requires that access to patient data is logged and the logs reviewed, and gives the patient the
right to an extract of who has looked at their data. A coordinator (or region administrator) searches their own
region's entries by personnummer or by user within a period, on screen or as an Excel file. The personnummer
only ever travels in a POST body, and every search and export is itself logged.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django import forms
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinics.models import ClinicRole, Region, RegionRole, User
from portal.forms import PeriodForm, PersonalIdentityNumberField

from . import validators
from .access import region_view
from .access_shown import AccessShown, AccessShownKind, access_shown_text
from .audit import PortalAudit, access_log_record_many, audit_record
from .keyset import keyset_page
from .models import AccessLogEntry
from .xlsx_stream import xlsx_response, xlsx_stream

DEFAULT_PERIOD_DAYS = 30
# The page shows its hits a page at a time (by cursor, newest first), 50 as the other long lists do (each row is a
# patient logged as seen); the export holds them all, streamed.
PAGE_SIZE = 50
# An Excel sheet holds 1 048 576 rows; the export stops short of that and says so at its end.
EXPORT_MAX_ROWS = 1_000_000
# The export reads the log in chunks by (time, id), each its own short query: no server-side cursor (PgBouncer in
# transaction pooling has none), no result held whole in memory.
EXPORT_CHUNK = 2000

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
    return (
        entries.select_related("user", "clinic", "region")
        # What a row shows (AccessLogRow): not every column of the user, clinic and region of each entry.
        .only(*SHOWN_COLUMNS)
        .order_by("-occurred_at", "-id")
    )


SHOWN_COLUMNS = (
    "occurred_at",
    "role",
    "personal_identity_number",
    "shown",
    "shown_kind",
    "shown_params",
    "user__name",
    "user__email",
    "clinic__number",
    "clinic__name",
    "region__name",
)


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

    # What `of_values` needs, read as plain values: no model instance per row in an export of a million.
    VALUES = (
        "id",
        "occurred_at",
        "user__name",
        "user__email",
        "role",
        "clinic__number",
        "clinic__name",
        "region__name",
        "personal_identity_number",
        "shown_kind",
        "shown_params",
        "shown",
    )

    @classmethod
    def of_values(cls, values: tuple) -> AccessLogRow:
        _, occurred_at, name, email, role, clinic_number, clinic_name, region_name, pin, kind, params, shown = values
        return cls(
            occurred_at=timezone.localtime(occurred_at),
            user=f"{name} ({email})" if name else email,
            role=str(ROLE_LABELS.get(role, role)),
            place=f"{clinic_number} {clinic_name}" if clinic_number is not None else region_name,
            personal_identity_number=pin,
            shown=access_shown_text(kind, params, as_made=shown),
        )

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
        # The search is posted (a personnummer never stands in a URL), so are its pages' cursors.
        page = keyset_page(
            search.entries(), cursor=request.POST.get("cursor"), size=PAGE_SIZE, stamp_field="occurred_at", count=False
        )
        access_log_search_record(
            request=request,
            search=search,
            export=False,
            pins_shown=[entry.personal_identity_number for entry in page.object_list],
        )
        context.update(
            search=search,
            page=page,
            rows=[AccessLogRow.of(entry) for entry in page.object_list],
            by_post=True,
            list_url=request.path,
        )
    return render(request, "portal/access_log.html", context)


def _entries_in_chunks(search: AccessLogSearch, until: datetime.datetime) -> Iterator[list[tuple]]:
    """The search's entries written before `until`, newest first, as value tuples, EXPORT_CHUNK at a time by
    keyset: each chunk starts after the last row of the one before, from the index, as the page's cursor does."""
    entries = search.entries().filter(occurred_at__lt=until).order_by("-occurred_at", "-id")
    after: tuple | None = None
    while True:
        chunk_query = entries
        if after is not None:
            stamp, pk = after
            chunk_query = entries.filter(occurred_at__lte=stamp).filter(Q(occurred_at__lt=stamp) | Q(pk__lt=pk))
        chunk = list(chunk_query.values_list(*AccessLogRow.VALUES)[:EXPORT_CHUNK])
        if not chunk:
            return
        yield chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        after = (chunk[-1][1], chunk[-1][0])


def _export_rows(request: HttpRequest, search: AccessLogSearch, exported_at: datetime.datetime) -> Iterator[list]:
    """The export's rows, logging the patients of each chunk before its rows leave (a patient once)."""
    yield [_("Åtkomstlogg för %(region)s") % {"region": search.region.name}]
    yield [_("Sökning: %(search)s") % {"search": search.description}]
    yield [_("Exporterad %(time)s av %(user)s") % {"time": f"{exported_at:%Y-%m-%d %H:%M}", "user": request.user.email}]
    yield []
    yield [_("Tidpunkt"), _("Användare"), _("Roll"), _("Klinik"), _("Personnummer"), _("Visat")]
    # The searched patient is logged already (access_log_search_record).
    logged = {search.personal_identity_number} if search.personal_identity_number else set()
    written = 0
    for chunk in _entries_in_chunks(search, until=exported_at):
        rows = [AccessLogRow.of_values(values) for values in chunk[: EXPORT_MAX_ROWS - written]]
        new_pins = {row.personal_identity_number for row in rows} - logged
        if new_pins:
            access_log_record_many(
                request=request,
                personal_identity_numbers=new_pins,
                shown=AccessShown(AccessShownKind.ACCESS_LOG_EXPORT),
            )
            logged |= new_pins
        for row in rows:
            yield [
                row.occurred_at,
                row.user,
                row.role,
                row.place,
                validators.format_personal_identity_number(row.personal_identity_number),
                row.shown,
            ]
        written += len(rows)
        if written >= EXPORT_MAX_ROWS:
            yield []
            yield [
                _("Urvalet har fler än %(max)s rader; de %(max)s senaste är med. Begränsa perioden för att få resten.")
                % {"max": EXPORT_MAX_ROWS}
            ]
            return


def _export_response(request: HttpRequest, search: AccessLogSearch) -> StreamingHttpResponse:
    """Patientens loggutdrag as Excel, streamed as the log is read: any size, in flat memory."""
    # The log as it stood when the export began: not the export's own entries, nor those written while it runs.
    exported_at = timezone.localtime()
    # The search itself is recorded before the first byte (the searched patient, or the user in the audit log);
    # each patient in the rows is logged as their chunk is written.
    access_log_search_record(request=request, search=search, export=True)
    # The file name says whose region and when, never whose personnummer.
    return xlsx_response(
        xlsx_stream(
            sheet_title=_("Åtkomstlogg"),
            widths=(20, 40, 22, 36, 16, 40),
            rows=_export_rows(request, search, exported_at),
        ),
        f"atkomstlogg-{search.region.code}-{exported_at:%Y%m%d-%H%M%S}.xlsx",
    )
