"""Demo agreements (Avtal): each region's first version, signed by its clinics a year ago, and in Västra Götaland a
newer version that must be signed again — signed by clinic 31's Avtalsansvarig, waiting for clinic 32, which may
still send claims on its old signature until the sign-by day a month from the load.

Made through the services with the days they would have had. Idempotent: a region that has versions is left as it is
(what a person signs in the demo stays signed: signatures are append-only).
"""

from __future__ import annotations

import datetime
from collections import Counter

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from agreements import services
from agreements.models import AgreementVersion
from clinics.models import Clinic, Region, User

TEXT = (
    "Avtal om fakturering av särskilt tandvårdsstöd mellan regionen och vårdgivaren.\n\n"
    "1. Vårdgivaren fakturerar regionen enligt regionens ersättningslista och regler.\n"
    "2. Vårdgivaren ansvarar för att uppgifterna i räkningarna är riktiga.\n"
    "3. Regionen betalar ut ersättning till vårdgivarens bankgiro eller plusgiro."
)
# region, who publishes, (clinic number, who signs) for the first version
FIRST = (
    ("vg", "regionadmin@demo.test", (("31", "admin31@demo.test"), ("32", "admin32@demo.test"))),
    ("dalarna", "regionadmin@demo.test", (("2001", "admin2001@demo.test"),)),
)
# Västra Götaland's second version: signed by 31, waiting for 32.
SECOND = ("vg", "regionadmin@demo.test", (("31", "avtal31@demo.test"),))


def demo_agreements_load(counts: Counter, *, today: datetime.date | None = None) -> None:
    today = today or timezone.localdate()
    year_ago = today - datetime.timedelta(days=365)
    for region_code, publisher, signers in FIRST:
        region = Region.objects.filter(code=region_code).first()
        if region is None or AgreementVersion.objects.of_region(region).exists():
            counts["unchanged"] += 1
            continue
        title = f"Avtal om särskilt tandvårdsstöd, {region.name}"
        version = services.agreement_publish(
            actor=User.objects.get(email=publisher),
            region=region,
            title=title,
            text=TEXT,
            file=_pdf(title, TEXT),
            valid_from=year_ago,
            sign_by=year_ago + datetime.timedelta(days=30),
            today=year_ago - datetime.timedelta(days=14),
        )
        _sign(version, region, signers, on=year_ago + datetime.timedelta(days=3))
        if region_code == SECOND[0]:
            text = TEXT + "\n4. Vårdgivaren signerar varje ny version av avtalet i portalen."
            second = services.agreement_publish(
                actor=User.objects.get(email=SECOND[1]),
                region=region,
                title=title,
                text=text,
                file=_pdf(title, text),
                valid_from=today - datetime.timedelta(days=7),
                must_sign_again=True,
                sign_by=today + datetime.timedelta(days=30),
                today=today - datetime.timedelta(days=14),
            )
            _sign(second, region, SECOND[2], on=today - datetime.timedelta(days=6))
        counts["created"] += 1


def _pdf(title: str, text: str) -> SimpleUploadedFile:
    """The version as a PDF, as a region would upload it."""
    from fpdf import FPDF  # imported when a PDF is made: see payouts.notices.notice_pdf

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return SimpleUploadedFile("avtal.pdf", bytes(pdf.output()), content_type="application/pdf")


def _sign(version: AgreementVersion, region: Region, signers, *, on: datetime.date) -> None:
    for number, email in signers:
        clinic = Clinic.objects.of_region(region).get(number=number)
        services.agreement_sign(actor=User.objects.get(email=email), clinic=clinic, version=version, today=on)
