"""The bank's payment file of a run: ISO 20022 pain.001.001.03, Swedish domestic payments to bankgiro and plusgiro.

One payment information block: debited from the region's bankgiro on the payout date; one credit transfer
per clinic with something left to pay after set-off (a clinic whose credits ate its payout gets no
transaction: the schema allows no zero amount). The file is built from what the run recorded (accounts
copied when it was made), so it is the same file however often it is downloaded. The tests validate it
against the official schema in payouts/schemas/.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from lxml import etree

from clinics.models import PaymentMethod
from clinics.rules import region_rules

from .models import PayoutPayment, PayoutRun

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
CLEARING_SYSTEM = "SESBA"  # Swedish bankers' association clearing codes
# The clearing number that routes a payment to Bankgirot or to PlusGirot.
CLEARING_MEMBER = {PaymentMethod.BANKGIRO: "9900", PaymentMethod.PLUSGIRO: "9500"}
# How the creditor's account number is named: bankgiro as the proprietary BGNR; plusgiro as a BBAN, which is
# how Swedish banks' implementation guides take a plusgiro number.
BANKGIRO_SCHEME = "BGNR"
PLUSGIRO_SCHEME_CODE = "BBAN"
REMITTANCE_MAX = 140


def amount_text(ore: int) -> str:
    """Öre as kronor with exactly two decimals: 125050 → '1250.50'."""
    return str((Decimal(ore) / 100).quantize(Decimal("0.01")))


def _sub(parent, tag: str, text: str | None = None, **attrs):
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}", **attrs)
    if text is not None:
        element.text = text
    return element


def _path(parent, *tags: str, text: str | None = None):
    for tag in tags[:-1]:
        parent = _sub(parent, tag)
    return _sub(parent, tags[-1], text)


def _name(text: str) -> str:
    return " ".join(text.split())[:70]


def file_payments(run: PayoutRun) -> list[PayoutPayment]:
    """The payments that are transactions of the file: those with an amount left to pay."""
    return list(
        run.payments.filter(net__gt=0)
        .select_related("clinic")
        .prefetch_related("invoices")
        .order_by("clinic__number", "pk")
    )


def payment_file_build(run: PayoutRun) -> bytes:
    """The run's pain.001.001.03 document as UTF-8 bytes. A run with nothing to pay has no file (ValueError)."""
    payments = file_payments(run)
    if not payments:
        raise ValueError("the run has nothing to pay")
    region = run.region
    count = str(len(payments))
    total = amount_text(sum(payment.net for payment in payments))

    document = etree.Element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE})
    initiation = _sub(document, "CstmrCdtTrfInitn")
    header = _sub(initiation, "GrpHdr")
    _sub(header, "MsgId", run.message_id)
    _sub(header, "CreDtTm", timezone.localtime(run.created_at).replace(microsecond=0, tzinfo=None).isoformat())
    _sub(header, "NbOfTxs", count)
    _sub(header, "CtrlSum", total)
    initiating = _sub(header, "InitgPty")
    _sub(initiating, "Nm", _name(region.name))
    _path(initiating, "Id", "OrgId", "Othr", "Id", text=region.organisation_number)

    block = _sub(initiation, "PmtInf")
    _sub(block, "PmtInfId", run.message_id)
    _sub(block, "PmtMtd", "TRF")
    _sub(block, "NbOfTxs", count)
    _sub(block, "CtrlSum", total)
    # Bankgiro and plusgiro payments are executed as non-urgent (NURG) domestic payments.
    _path(block, "PmtTpInf", "SvcLvl", "Cd", text="NURG")
    _sub(block, "ReqdExctnDt", run.payout_date.isoformat())
    debtor = _sub(block, "Dbtr")
    _sub(debtor, "Nm", _name(region.name))
    _path(debtor, "Id", "OrgId", "Othr", "Id", text=region.organisation_number)
    debtor_account = _sub(block, "DbtrAcct")
    other = _path(debtor_account, "Id", "Othr")
    # The region's account as its rules name it on the payout date.
    _sub(other, "Id", region_rules(region, run.payout_date).repayment_bankgiro)
    _path(other, "SchmeNm", "Prtry", text=BANKGIRO_SCHEME)
    _sub(debtor_account, "Ccy", "SEK")
    _clearing(_sub(block, "DbtrAgt"), PaymentMethod.BANKGIRO)

    for payment in payments:
        transaction = _sub(block, "CdtTrfTxInf")
        ids = _sub(transaction, "PmtId")
        _sub(ids, "InstrId", payment.end_to_end_id)
        _sub(ids, "EndToEndId", payment.end_to_end_id)
        _path(transaction, "Amt", "InstdAmt", text=amount_text(payment.net)).set("Ccy", "SEK")
        _clearing(_sub(transaction, "CdtrAgt"), payment.payment_method)
        creditor = _sub(transaction, "Cdtr")
        _sub(creditor, "Nm", _name(payment.clinic.name))
        _path(creditor, "Id", "OrgId", "Othr", "Id", text=payment.clinic.organisation_number)
        account = _path(_sub(transaction, "CdtrAcct"), "Id", "Othr")
        _sub(account, "Id", payment.account_number)
        if payment.payment_method == PaymentMethod.BANKGIRO:
            _path(account, "SchmeNm", "Prtry", text=BANKGIRO_SCHEME)
        else:
            _path(account, "SchmeNm", "Cd", text=PLUSGIRO_SCHEME_CODE)
        _path(transaction, "RmtInf", "Ustrd", text=remittance_text(payment))
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _clearing(agent, method: str) -> None:
    member = _path(agent, "FinInstnId", "ClrSysMmbId")
    _path(member, "ClrSysId", "Cd", text=CLEARING_SYSTEM)
    _sub(member, "MmbId", CLEARING_MEMBER[method])


def remittance_text(payment: PayoutPayment) -> str:
    """What the clinic reads on its account statement: the Vår referens of each invoice paid."""
    references = [invoice.our_reference for invoice in sorted(payment.invoices.all(), key=lambda i: i.our_reference)]
    text = "Vår referens " + " ".join(references)
    if len(text) > REMITTANCE_MAX:
        text = f"Utbetalning {payment.run.payout_date.isoformat()}, {len(references)} fakturor, se utbetalningsbesked"
    return text


def payment_file_name(run: PayoutRun) -> str:
    return f"utbetalning-{run.region.code}-{run.payout_date:%Y%m%d}-pain001.xml"
