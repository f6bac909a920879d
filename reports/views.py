"""The coordinator's start page (what waits, amounts per month and per clinic as charts and tables) and its
Excel exports."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, localize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from openpyxl import Workbook

from claims.models import ClaimState
from payouts.selectors import next_payout_run
from portal.access import region_view
from portal.excel import bold, kronor_cell, number_cell, text_cell, workbook_response
from portal.money import format_kronor
from review.selectors import QuestionFilter

from . import charts, selectors
from .selectors import FORMS, Amounts, Period

# The start page's table of clinics: the largest one by one and the others in one row (a region of 300 clinics made
# a page of 90 KB); the Excel file lists every clinic.
TABLE_CLINICS = 20


@dataclass(frozen=True)
class Tile:
    """One box of "Att hantera": a headline figure, a few facts, and where the coordinator handles it."""

    title: str
    figure: str
    details: tuple[str, ...] = ()
    url: str = ""  # empty while the page that handles it does not exist
    link_text: str = ""


def _waiting_details(waiting: selectors.Waiting, oldest_label: str) -> tuple[str, ...]:
    details = []
    if waiting.amount is not None:
        details.append(_("Belopp: %(amount)s") % {"amount": format_kronor(waiting.amount)})
    if waiting.oldest:
        details.append(f"{oldest_label}: {timezone.localdate(waiting.oldest):%Y-%m-%d}")
    return tuple(details)


def _tiles(request: HttpRequest, workload: selectors.Workload) -> list[Tile]:
    region_code = request.region.code
    received, under_review, assessments = workload.received, workload.under_review, workload.assessments
    claims_url = reverse("review_claim_list", kwargs={"region_code": region_code})
    return [
        Tile(
            _("Räkningar under behandling"),
            str(received.count),
            _waiting_details(received, _("Äldsta inkom")),
            url=f"{claims_url}?state={ClaimState.RECEIVED}",
            link_text=_("Till räkningarna"),
        ),
        Tile(
            _("Räkningar under granskning"),
            str(under_review.count),
            _waiting_details(under_review, _("Äldsta inkom")),
            url=f"{claims_url}?state={ClaimState.UNDER_REVIEW}",
            link_text=_("Till granskningen"),
        ),
        Tile(
            _("Besvarade frågor att granska"),
            str(workload.answered_questions.count),
            (),
            url=f"{claims_url}?queue=&question={QuestionFilter.ANSWERED}",
            link_text=_("Till de besvarade frågorna"),
        ),
        Tile(
            _("Försenade återbetalningar"),
            str(workload.overdue_repayments.count),
            _waiting_details(workload.overdue_repayments, _("Äldsta krediterad")),
            url=reverse("repayment_list", kwargs={"region_code": region_code}) + "?forsenade=1",
            link_text=_("Till återbetalningarna"),
        ),
        Tile(
            _("Förhandsbedömningar att bedöma"),
            str(assessments.count),
            _waiting_details(assessments, _("Äldsta inskickad")),
            url=reverse("region_assessment_queue", kwargs={"region_code": region_code}),
            link_text=_("Till förhandsbedömningarna"),
        ),
        _next_run_tile(request),
    ]


def _next_run_tile(request: HttpRequest) -> Tile:
    region_code = request.region.code
    run = next_payout_run(region=request.region)
    if run is None:
        return Tile(
            _("Nästa utbetalningskörning"),
            _("Ingen planerad"),
            url=reverse("payout_run_new", kwargs={"region_code": region_code}),
            link_text=_("Gör en utbetalningskörning"),
        )
    return Tile(
        _("Nästa utbetalningskörning"),
        run.payout_date.isoformat(),
        (
            _("%(count)s räkningar") % {"count": run.claim_count},
            _("Att betala ut: %(amount)s") % {"amount": format_kronor(run.net_total)},
        ),
        url=reverse("payout_run_detail", kwargs={"region_code": region_code, "run_pk": run.pk}),
        link_text=_("Till utbetalningskörningen"),
    )


def _amount_rows(rows: list[tuple[str, Amounts]]) -> list[SafeString]:
    """The start page's table rows, each written here as one piece of markup: the template wrote each of a row's six
    cells from its own variables and filters (~300 a page, ~1.5 ms of the page's CPU). The same markup, every text
    escaped (format_html) and each number localized as the template does (`{{ }}`)."""
    return [
        format_html(
            '<tr><th scope="row">{}</th>{}<td class="num">{}</td><td class="num">{}</td></tr>',
            label,
            format_html_join("", '<td class="num">{}</td>', ((format_kronor(a),) for a in amounts.in_form_order)),
            format_kronor(amounts.total),
            localize(amounts.claims),
        )
        for label, amounts in rows
    ]


def _tables(months: list[selectors.MonthRow], clinics: list[selectors.ClinicRow]) -> dict[str, list[SafeString]]:
    """The rows of the month table and of the clinic table (the largest TABLE_CLINICS, then the others in one), and
    each table's total row."""
    table = selectors.largest_clinics(clinics, top=TABLE_CLINICS)
    clinic_rows = [(f"{row.number} {row.name}", row.amounts) for row in table.largest]
    if table.others:
        clinic_rows.append((_("Övriga %(count)s kliniker") % {"count": localize(table.others)}, table.others_amounts))
    return {
        "months_rows": _amount_rows([(date_format(row.month, "F Y"), row.amounts) for row in months]),
        "months_total_row": _amount_rows([(_("Summa"), Amounts.sum_of(months))])[0],
        "clinics_rows": _amount_rows(clinic_rows),
        "clinics_total_row": _amount_rows([(_("Summa"), Amounts.sum_of(clinics))])[0],
    }


def basis_text() -> str:
    """What the figures are, said once for the page and again in each export."""
    return _(
        "Räkningar som kom in under månaden (fakturans inkomstdatum, svensk tid): räkningarnas totalsumma efter "
        "patientavgift. Raderade och makulerade räkningar ingår inte; krediterade ingår."
    )


@region_view()
@require_GET
def region_start(request: HttpRequest) -> HttpResponse:
    region = request.region
    period = selectors.report_period()
    figures = selectors.amounts(region=region, period=period)
    months, clinics = figures.months, figures.clinics
    return render(
        request,
        "reports/region_start.html",
        {
            "tiles": _tiles(request, selectors.region_workload(region=region)),
            "period": period,
            "basis": basis_text(),
            "forms": [charts.SERIES[form] for form in FORMS],
            "months_chart": charts.month_chart(months),
            "clinics": clinics,
            "clinics_chart": charts.clinic_chart(clinics),
            **_tables(months, clinics),
            "top_clinics": charts.TOP_CLINICS,
            "table_clinics": TABLE_CLINICS,
        },
    )


# Excel ------------------------------------------------------------------------------------------------------


def _sheet_heading(sheet, title: str, period: Period) -> None:
    exported_at = timezone.localtime()
    sheet.append([bold(text_cell(sheet, title))])
    sheet.append(
        [
            text_cell(
                sheet,
                _("Period %(from)s–%(to)s, exporterad %(time)s")
                % {
                    "from": period.first_day.isoformat(),
                    "to": period.last_day.isoformat(),
                    "time": f"{exported_at:%Y-%m-%d %H:%M}",
                },
            )
        ]
    )
    sheet.append([text_cell(sheet, basis_text())])
    sheet.append([])


def _amount_headings() -> list[str]:
    forms = [_("%(form)s (kr)") % {"form": charts.form_label(form)} for form in FORMS]
    return [*forms, _("Totalt (kr)"), _("Antal räkningar")]


def _amount_cells(sheet, amounts: Amounts) -> list:
    return [
        *(kronor_cell(sheet, amount) for amount in amounts.in_form_order),
        kronor_cell(sheet, amounts.total),
        number_cell(sheet, amounts.claims),
    ]


def _filename(request: HttpRequest, what: str, period: Period) -> str:
    return f"{what}-{request.region.code}-{period.first_day:%Y%m}-{period.months[-1]:%Y%m}.xlsx"


@region_view()
@require_GET
def amounts_by_month_excel(request: HttpRequest) -> HttpResponse:
    """Belopp per månad och stödform as Excel: the table of the start page, with a total row."""
    period = selectors.report_period()
    months = selectors.amounts_by_month(region=request.region, period=period)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Per månad"))
    for column, width in zip("ABCDEF", (12, 18, 18, 18, 18, 16), strict=True):
        sheet.column_dimensions[column].width = width
    title = _("Belopp per månad och stödform, %(region)s") % {"region": request.region.name}
    _sheet_heading(sheet, title, period)
    sheet.append([bold(text_cell(sheet, heading)) for heading in [_("Månad"), *_amount_headings()]])
    for row in months:
        sheet.append([text_cell(sheet, f"{row.month:%Y-%m}"), *_amount_cells(sheet, row.amounts)])
    sheet.append([bold(text_cell(sheet, _("Summa"))), *_amount_cells(sheet, Amounts.sum_of(months))])
    return workbook_response(workbook, _filename(request, "belopp-per-manad", period))


@region_view()
@require_GET
def amounts_by_clinic_excel(request: HttpRequest) -> HttpResponse:
    """Belopp per klinik och stödform as Excel: every clinic with claims in the period, with a total row."""
    period = selectors.report_period()
    clinics = selectors.amounts_by_clinic(region=request.region, period=period)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Per klinik"))
    for column, width in zip("ABCDEFG", (14, 40, 18, 18, 18, 18, 16), strict=True):
        sheet.column_dimensions[column].width = width
    title = _("Belopp per klinik och stödform, %(region)s") % {"region": request.region.name}
    _sheet_heading(sheet, title, period)
    headings = [_("Kliniknummer"), _("Klinik"), *_amount_headings()]
    sheet.append([bold(text_cell(sheet, heading)) for heading in headings])
    for row in clinics:
        sheet.append([text_cell(sheet, row.number), text_cell(sheet, row.name), *_amount_cells(sheet, row.amounts)])
    sheet.append(
        [bold(text_cell(sheet, _("Summa"))), text_cell(sheet, ""), *_amount_cells(sheet, Amounts.sum_of(clinics))]
    )
    return workbook_response(workbook, _filename(request, "belopp-per-klinik", period))
