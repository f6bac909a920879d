"""Utbetalningsbesked: what one clinic is paid in a run, as PDF and Excel, and the e-mail that carries both.

The notice lists invoices (with Vår referens), claims (by räkningsreferens) and set-off credits, and the net
amount. It holds no personnummer: it travels by e-mail, and the clinic finds the patients in Era fakturor.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from portal.audit import audit_record
from portal.excel import XLSX_CONTENT_TYPE, kronor_cell, text_cell
from portal.excel import bold as bold_cell
from portal.money import format_kronor

from .audit import PayoutsAudit
from .models import PayoutClaim, PayoutPayment


@dataclass
class NoticeInvoice:
    reference: str
    our_reference: str
    claim_count: int
    amount: int


@dataclass
class NoticeClaim:
    invoice_reference: str
    reference: str
    amount: int


@dataclass
class NoticeSetOff:
    credit_reference: str
    invoice_reference: str
    amount: int


@dataclass
class Notice:
    """Everything an utbetalningsbesked says, read once for both formats."""

    payment: PayoutPayment
    invoices: list[NoticeInvoice] = field(default_factory=list)
    claims: list[NoticeClaim] = field(default_factory=list)
    set_offs: list[NoticeSetOff] = field(default_factory=list)

    @property
    def title(self) -> str:
        return _("Utbetalningsbesked %(date)s") % {"date": self.payment.run.payout_date.isoformat()}

    def facts(self) -> list[tuple[str, str]]:
        payment = self.payment
        clinic = payment.clinic
        return [
            (_("Region"), payment.run.region.name),
            (_("Klinik"), f"{clinic.number} {clinic.name}"),
            (_("Organisationsnummer"), clinic.organisation_number),
            (_("Utbetalningsdatum"), payment.run.payout_date.isoformat()),
            (_("Till"), payment.account_display),
        ]

    def totals(self) -> list[tuple[str, int]]:
        return [
            (_("Fakturerat"), self.payment.gross),
            (_("Kvittade kreditfakturor"), -self.payment.set_off),
            (_("Utbetalt belopp"), self.payment.net),
        ]


def notice_build(payment: PayoutPayment) -> Notice:
    """The notice's rows in three statements of plain values (invoices with their claims as counted by the run,
    claims, set-offs), however many claims the payment pays: no model instance per claim."""
    notice = Notice(payment=payment)
    invoices = payment.invoices.order_by("our_reference").values_list(
        "invoice__reference", "our_reference", "claim_count", "amount"
    )
    notice.invoices = [NoticeInvoice(*row) for row in invoices]
    claims = (
        PayoutClaim.objects.filter(payout_invoice__payment=payment)
        .order_by("payout_invoice__our_reference", "claim__reference")
        .values_list("payout_invoice__invoice__reference", "claim__reference", "amount")
    )
    notice.claims = [NoticeClaim(*row) for row in claims.iterator(chunk_size=2000)]
    set_offs = payment.set_offs.values_list("credit_invoice__reference", "credit_invoice__invoice__reference", "amount")
    notice.set_offs = [NoticeSetOff(*row) for row in set_offs]
    return notice


def notice_file_name(payment: PayoutPayment, extension: str) -> str:
    return f"utbetalningsbesked-{payment.clinic.number}-{payment.run.payout_date:%Y%m%d}.{extension}"


# PDF --------------------------------------------------------------------------------------------------------


def _latin1(text: str) -> str:
    # The PDF's built-in font has Latin-1 (å, ä, ö, é); anything else is replaced by its nearest plain form.
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u00a0", " ")
    return text.encode("latin-1", "replace").decode("latin-1")


def notice_pdf(notice: Notice) -> bytes:
    # fpdf2 takes 0.4–1 s to import (its font tables); only the notices and the demo's agreements make PDFs, so the
    # processes that never make one (most web and worker processes, every test run) do not pay for it.
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(notice.title))
    pdf.set_author(_latin1(notice.payment.run.region.name))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(notice.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for label, value in notice.facts():
        pdf.cell(45, 6, _latin1(label))
        pdf.cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def table(heading: str, columns: list[tuple[str, int, str]], rows: list[list[str]]) -> None:
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, _latin1(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 9)
        for title, width, align in columns:
            pdf.cell(width, 6, _latin1(title), border="B", align=align)
        pdf.ln()
        pdf.set_font("Helvetica", size=9)
        for row in rows:
            for (_title, width, align), value in zip(columns, row, strict=True):
                pdf.cell(width, 6, _latin1(value), align=align)
            pdf.ln()
        pdf.ln(3)

    table(
        _("Fakturor"),
        [
            (_("OCR/Fakturanummer"), 60, "L"),
            (_("Vår referens"), 40, "L"),
            (_("Räkningar"), 30, "R"),
            (_("Belopp"), 50, "R"),
        ],
        [[i.reference, i.our_reference, str(i.claim_count), format_kronor(i.amount)] for i in notice.invoices],
    )
    table(
        _("Räkningar"),
        [(_("OCR/Fakturanummer"), 60, "L"), (_("Räkningsreferens"), 70, "L"), (_("Belopp"), 50, "R")],
        [[c.invoice_reference, c.reference, format_kronor(c.amount)] for c in notice.claims],
    )
    if notice.set_offs:
        table(
            _("Kvittade kreditfakturor"),
            [(_("Kreditfaktura"), 70, "L"), (_("Avser faktura"), 60, "L"), (_("Kvittat"), 50, "R")],
            [[s.credit_reference, s.invoice_reference, format_kronor(-s.amount)] for s in notice.set_offs],
        )
    pdf.set_font("Helvetica", "B", 10)
    for label, amount in notice.totals():
        pdf.cell(130, 6, _latin1(label))
        pdf.cell(50, 6, _latin1(format_kronor(amount)), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 5, _latin1(notice_footer()))
    return bytes(pdf.output())


def notice_footer() -> str:
    return _(
        "Pengarna finns på kontot två till fem bankdagar efter utbetalningsdagen. Vår referens står på "
        "utbetalningen och i Era fakturor under Utbetalda."
    )


# Excel ------------------------------------------------------------------------------------------------------


def notice_xlsx(notice: Notice) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Utbetalningsbesked"))
    for column, width in zip("ABCD", (28, 28, 14, 16), strict=True):
        sheet.column_dimensions[column].width = width

    def text(value: str, bold: bool = False) -> WriteOnlyCell:
        cell = text_cell(sheet, value)  # an OCR number keeps its leading zeros
        return bold_cell(cell) if bold else cell

    def kronor(ore: int) -> WriteOnlyCell:
        return kronor_cell(sheet, ore)

    sheet.append([text(notice.title, bold=True)])
    for label, value in notice.facts():
        sheet.append([text(label), text(value)])
    sheet.append([])
    sheet.append([text(_("Fakturor"), bold=True)])
    sheet.append([text(h, bold=True) for h in (_("OCR/Fakturanummer"), _("Vår referens"), _("Räkningar"), _("Belopp"))])
    for invoice in notice.invoices:
        sheet.append(
            [text(invoice.reference), text(invoice.our_reference), invoice.claim_count, kronor(invoice.amount)]
        )
    sheet.append([])
    sheet.append([text(_("Räkningar"), bold=True)])
    sheet.append([text(h, bold=True) for h in (_("OCR/Fakturanummer"), _("Räkningsreferens"), "", _("Belopp"))])
    for claim in notice.claims:
        sheet.append([text(claim.invoice_reference), text(claim.reference), None, kronor(claim.amount)])
    if notice.set_offs:
        sheet.append([])
        sheet.append([text(_("Kvittade kreditfakturor"), bold=True)])
        sheet.append([text(h, bold=True) for h in (_("Kreditfaktura"), _("Avser faktura"), "", _("Kvittat"))])
        for set_off in notice.set_offs:
            sheet.append(
                [text(set_off.credit_reference), text(set_off.invoice_reference), None, kronor(-set_off.amount)]
            )
    sheet.append([])
    for label, amount in notice.totals():
        sheet.append([text(label, bold=True), None, None, kronor(amount)])
    content = io.BytesIO()
    workbook.save(content)
    return content.getvalue()


# E-mail -----------------------------------------------------------------------------------------------------


def payout_notice_email(*, payment: PayoutPayment, recipient: str) -> EmailMessage:
    notice = notice_build(payment)
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse("invoice_list_paid", kwargs={"clinic_pk": payment.clinic_id})
    message = EmailMessage(
        subject=_("%(title)s – %(clinic)s") % {"title": notice.title, "clinic": payment.clinic},
        body=render_to_string("payouts/email/payout_notice.txt", {"notice": notice, "payment": payment, "link": link}),
        to=[recipient],
    )
    message.attach(notice_file_name(payment, "pdf"), notice_pdf(notice), "application/pdf")
    message.attach(notice_file_name(payment, "xlsx"), notice_xlsx(notice), XLSX_CONTENT_TYPE)
    return message


# Sending --------------------------------------------------------------------------------------------------


@transaction.atomic
def payout_notice_send(*, payment: PayoutPayment) -> bool:
    """E-mail the clinic its utbetalningsbesked, once: a second call (a retried task) sends nothing."""
    payment = PayoutPayment.objects.select_for_update().select_related("clinic", "run__region").get(pk=payment.pk)
    if payment.notice_sent_at is not None:
        return False
    recipient = payment.clinic.payout_email
    payout_notice_email(payment=payment, recipient=recipient).send()
    payment.notice_sent_at = timezone.now()
    payment.notice_sent_to = recipient
    payment.save(update_fields=["notice_sent_at", "notice_sent_to"])
    audit_record(
        actor=None,
        action=PayoutsAudit.NOTICE_SENT,
        obj=payment,
        after={"to": recipient},
        clinic=payment.clinic_id,
        region=payment.run.region_id,
    )
    return True
