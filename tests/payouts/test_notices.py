"""Utbetalningsbesked: PDF and Excel with invoices, claims, set-offs and net; e-mailed once to the payout address."""

import io
import re
import zlib

from openpyxl import load_workbook

from payouts import notices, services, tasks
from payouts.models import PayoutPayment

from .factories import claim, credit, future_bank_day, invoice, payout_world


def _pdf_text(content: bytes) -> str:
    """The text drawn on the PDF's pages (fpdf2 compresses each page's content stream)."""
    assert content.startswith(b"%PDF-")
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            page = zlib.decompress(stream)
        except zlib.error:
            continue
        text += [part.decode("latin-1") for part in re.findall(rb"\((.*?)\)\s*Tj", page)]
    return "\n".join(text)


def _run_with_set_off(pw):
    paid = invoice(pw.bankgiro, reference="4711")
    claim(paid, 100_000)
    claim(paid, 25_050)
    credit(invoice(pw.bankgiro, reference="4000"), 30_000, "4000_Kredit")
    return services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day()).run


def test_the_notice_lists_invoices_claims_set_offs_and_net_in_pdf_and_excel(db):
    pw = payout_world()
    run = _run_with_set_off(pw)
    payment = run.payments.get()
    our_reference = payment.invoices.get().our_reference
    claim_references = sorted(payment.invoices.get().claims.values_list("claim__reference", flat=True))
    notice = notices.notice_build(payment)

    text = _pdf_text(notices.notice_pdf(notice)).replace("\xa0", " ")
    assert f"Utbetalningsbesked {run.payout_date.isoformat()}" in text
    assert f"{pw.bankgiro.number} {pw.bankgiro.name}" in text
    for expected in ("4711", our_reference, *claim_references, "4000_Kredit", "1 250,50 kr", "-300 kr", "950,50 kr"):
        assert expected in text, expected
    assert "Utbetalt belopp" in text

    sheet = load_workbook(io.BytesIO(notices.notice_xlsx(notice))).active
    rows = [[cell for cell in row if cell is not None] for row in sheet.iter_rows(values_only=True)]
    assert ["4711", our_reference, 2, 1250.5] in rows
    for reference in claim_references:
        assert any(row[:2] == ["4711", reference] for row in rows), reference
    assert ["4000_Kredit", "4000", -300.0] in rows
    assert ["Utbetalt belopp", 950.5] in rows


def test_the_notice_is_emailed_once_to_the_payout_address_when_the_file_is_first_downloaded(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    pw = payout_world()
    with django_capture_on_commit_callbacks(execute=True):
        run = _run_with_set_off(pw)
    assert mailoutbox == []  # made, not yet sent to the bank: nobody is told (the run may still be cancelled)
    with django_capture_on_commit_callbacks(execute=True):
        services.payout_run_file_download(actor=pw.coordinator, run=run)
        services.payout_run_file_download(actor=pw.coordinator, run=run)  # again: no second notice
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [pw.bankgiro.payout_email]
    assert f"Utbetalningsbesked {run.payout_date.isoformat()}" in message.subject
    assert "950,50\xa0kr" in message.body
    names = sorted(name for name, _content, _type in message.attachments)
    assert names == [
        f"utbetalningsbesked-{pw.bankgiro.number}-{run.payout_date:%Y%m%d}.pdf",
        f"utbetalningsbesked-{pw.bankgiro.number}-{run.payout_date:%Y%m%d}.xlsx",
    ]
    payment = PayoutPayment.objects.get(run=run)
    assert payment.notice_sent_to == pw.bankgiro.payout_email and payment.notice_sent_at

    # A retried task sends nothing more.
    assert tasks.send_payout_notice.delay(payment.pk).get() is False
    assert len(mailoutbox) == 1


def test_no_notice_is_sent_when_the_download_rolls_back(db, mailoutbox, django_capture_on_commit_callbacks):
    pw = payout_world()
    run = _run_with_set_off(pw)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.payout_run_file_download(actor=pw.coordinator, run=run)
    assert len(callbacks) == 1
    assert mailoutbox == []
