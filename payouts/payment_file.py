"""The bank's payment file of a run: ISO 20022 pain.001.001.03, Swedish domestic payments to bankgiro and plusgiro.

One payment information block: debited from the region's bankgiro on the payout date; one credit transfer
per clinic with something left to pay after set-off (a clinic whose credits ate its payout gets no
transaction: the schema allows no zero amount). The file is built from what the run recorded (accounts
copied when it was made), so it is the same file however often it is downloaded. The tests validate it
against the official schema in payouts/schemas/.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone
from lxml import etree

from clinics.models import PaymentMethod
from clinics.rules import region_rules

from .models import PayoutInvoice, PayoutPayment, PayoutRun

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


# Payments written per chunk: the file is streamed, never held whole (a run pays hundreds of clinics).
CHUNK_SIZE = 200


def file_payments(run: PayoutRun):
    """The payments that are transactions of the file: those with an amount left to pay, by clinic number."""
    return run.payments.filter(net__gt=0).select_related("clinic").order_by("clinic__number", "pk")


def payment_file_build(run: PayoutRun) -> bytes:
    """The run's pain.001.001.03 document as UTF-8 bytes. A run with nothing to pay has no file (ValueError)."""
    return b"".join(payment_file_stream(run))


class _Buffer:
    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def drain(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def payment_file_stream(run: PayoutRun) -> Iterator[bytes]:
    """The run's file in parts: the header from an aggregate of the payments, then CHUNK_SIZE transactions at a
    time, each chunk's Vår referens read in one statement. Refuses (ValueError) before the first part when the
    run has nothing to pay, so that a view can still answer otherwise."""
    totals = file_payments(run).aggregate(count=Count("id"), total=Sum("net"))
    if not totals["count"]:
        raise ValueError("the run has nothing to pay")
    return _stream(run, totals["count"], totals["total"])


def _stream(run: PayoutRun, count_of: int, total_of: int) -> Iterator[bytes]:
    region = run.region
    count = str(count_of)
    total = amount_text(total_of)
    buffer = _Buffer()
    with etree.xmlfile(buffer, encoding="UTF-8") as xml:
        xml.write_declaration()
        with xml.element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE}):
            xml.write("\n")
            with xml.element(f"{{{NAMESPACE}}}CstmrCdtTrfInitn"):
                xml.write("\n")
                header = etree.Element(f"{{{NAMESPACE}}}GrpHdr")
                _sub(header, "MsgId", run.message_id)
                created = timezone.localtime(run.created_at).replace(microsecond=0, tzinfo=None).isoformat()
                _sub(header, "CreDtTm", created)
                _sub(header, "NbOfTxs", count)
                _sub(header, "CtrlSum", total)
                initiating = _sub(header, "InitgPty")
                _sub(initiating, "Nm", _name(region.name))
                _path(initiating, "Id", "OrgId", "Othr", "Id", text=region.organisation_number)
                xml.write(header, pretty_print=True)
                with xml.element(f"{{{NAMESPACE}}}PmtInf"):
                    xml.write("\n")
                    block = etree.Element(f"{{{NAMESPACE}}}PmtInf")
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
                    for element in block:
                        xml.write(element, pretty_print=True)
                    yield buffer.drain()
                    for chunk in _payment_chunks(run):
                        for payment, references in chunk:
                            xml.write(_transaction(payment, references), pretty_print=True)
                        yield buffer.drain()
                xml.write("\n")
            xml.write("\n")
    yield buffer.drain() + b"\n"


def _payment_chunks(run: PayoutRun) -> Iterator[list[tuple[PayoutPayment, list[str]]]]:
    """The file's payments CHUNK_SIZE at a time, each with the Vår referens of its invoices (one statement a chunk)."""
    last = None
    while True:
        payments = file_payments(run)
        if last is not None:
            payments = payments.filter(Q(clinic__number__gt=last[0]) | Q(clinic__number=last[0], pk__gt=last[1]))
        payments = list(payments[:CHUNK_SIZE])
        if not payments:
            return
        references: dict[int, list[str]] = {}
        rows = PayoutInvoice.objects.filter(payment__in=payments).order_by("our_reference")
        for payment_id, our_reference in rows.values_list("payment_id", "our_reference"):
            references.setdefault(payment_id, []).append(our_reference)
        yield [(payment, references.get(payment.pk, [])) for payment in payments]
        last = (payments[-1].clinic.number, payments[-1].pk)


def _transaction(payment: PayoutPayment, references: list[str]):
    transaction = etree.Element(f"{{{NAMESPACE}}}CdtTrfTxInf")
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
    _path(transaction, "RmtInf", "Ustrd", text=remittance_text(payment, references))
    return transaction


def _clearing(agent, method: str) -> None:
    member = _path(agent, "FinInstnId", "ClrSysMmbId")
    _path(member, "ClrSysId", "Cd", text=CLEARING_SYSTEM)
    _sub(member, "MmbId", CLEARING_MEMBER[method])


def remittance_text(payment: PayoutPayment, references: list[str]) -> str:
    """What the clinic reads on its account statement: the Vår referens of each invoice paid."""
    text = "Vår referens " + " ".join(sorted(references))
    if len(text) > REMITTANCE_MAX:
        text = f"Utbetalning {payment.run.payout_date.isoformat()}, {len(references)} fakturor, se utbetalningsbesked"
    return text


def payment_file_name(run: PayoutRun) -> str:
    return f"utbetalning-{run.region.code}-{run.payout_date:%Y%m%d}-pain001.xml"
