"""The fakturafil parser: the spec's example as drafts, schema faults per claim, whole-file faults, hostile
files refused before anything is expanded or fetched, and a stream that does not grow with the file."""

import datetime
import io
import re
import time
import tracemalloc
import zipfile
from pathlib import Path

import psutil
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from lxml import etree

from billing.invoice_file import (
    NAMESPACE,
    SCHEMA_PATH,
    Header,
    InvoiceFileRejected,
    ParsedClaim,
    parse_invoice_file,
)
from claims.drafts import ClaimDraft, FreeCardDraft, LineDraft
from portal.validators import FDI_TEETH

D = datetime.date
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "invoice-files"
EXAMPLE = FIXTURES / "example-v1.xml"
MIXED = FIXTURES / "mixed-faults-v1.xml"
FORBIDDEN = "Filen innehåller otillåtna XML-konstruktioner"
MB = 1024 * 1024

HEADER = (
    "<Huvud><Kliniknummer>31</Kliniknummer><Fakturareferens>212962</Fakturareferens>"
    "<Skapad>2025-10-01T08:15:00</Skapad></Huvud>"
)


def claim_xml(reference="980890", *, pin="200001012384", body=None) -> str:
    body = body or '<Besok datum="2025-09-01"><Patientavgift belopp="200"/><Atgard kod="101"/></Besok>'
    return (
        f"<Rakning><Rakningsreferens>{reference}</Rakningsreferens><Personnummer>{pin}</Personnummer>"
        f"<Stodform>N</Stodform>{body}</Rakning>"
    )


def invoice_xml(*claims: str, header: str = HEADER, root: str = f'<Fakturafil xmlns="{NAMESPACE}" version="1">') -> str:
    """A file of the claims (one by default), each on a line of its own: the root on line 1, the header on 2."""
    claims = claims or (claim_xml(),)
    root_name = root[1:].split(maxsplit=1)[0].rstrip(">")
    return "\n".join([root, header, *claims, f"</{root_name}>"])


def encoded(text: str, *, prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n', encoding="utf-8") -> bytes:
    return (prolog + text).encode(encoding)


def parse(data, **kwargs) -> tuple[Header, list[ParsedClaim]]:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with parse_invoice_file(source, **kwargs) as invoice_file:
        return invoice_file.header, list(invoice_file.claims)


def rejected(data, **kwargs) -> InvoiceFileRejected:
    with pytest.raises(InvoiceFileRejected) as caught:
        parse(data, **kwargs)
    return caught.value


class CountingFile(io.FileIO):
    """A file that counts what is read from it, to prove a refusal read nothing."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


# The format as drafts ---------------------------------------------------------------------------------------


def test_the_spec_example_parses_into_two_drafts():
    header, claims = parse(EXAMPLE)

    assert header == Header(
        clinic_number="31",
        invoice_reference="212962",
        created=datetime.datetime(2025, 10, 1, 8, 15),
        software="T4 2025.2",
    )
    assert [(c.index, c.reference, c.personal_identity_number, c.faults) for c in claims] == [
        (1, "980890", "200001012384", []),
        (2, "980891", "200001022383", []),
    ]
    assert claims[0].draft == ClaimDraft(
        personal_identity_number="200001012384",
        support_form="N",
        reference="980890",
        lines=[
            LineDraft(visit_date=D(2025, 9, 1), code="101"),
            LineDraft(visit_date=D(2025, 9, 1), code="825", jaw="UK"),
        ],
        patient_fees={D(2025, 9, 1): 20000},
        certificate_number="764153",
        care_model="K1",
    )
    assert claims[1].draft == ClaimDraft(
        personal_identity_number="200001022383",
        support_form="S",
        reference="980891",
        lines=[LineDraft(visit_date=D(2025, 9, 3), code="401", tooth="36")],
        patient_category="S3",
        prior_assessment_number="FHB-2025-000001",
        free_card=FreeCardDraft(number="55512", valid_from=D(2025, 3, 1), valid_to=D(2026, 2, 28)),
    )
    assert claims[0].line == 9


def test_the_shipped_schema_accepts_the_example_files_as_wholes():
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
    assert schema.validate(etree.parse(str(EXAMPLE))), schema.error_log
    assert not schema.validate(etree.parse(str(MIXED)))
    # Claims 2 to 4 (lines 26-53) break the schema; the fifth's fee given twice is beyond what it can say.
    assert {entry.line for entry in schema.error_log} <= set(range(26, 54))


def test_amounts_are_kronor_with_a_point_and_every_field_reaches_the_draft():
    _header, claims = parse(MIXED)

    draft = claims[0].draft
    assert draft.patient_fees == {D(2025, 9, 1): 125050}
    assert draft.lines[1] == LineDraft(visit_date=D(2025, 9, 1), code="901", price=125050, comment="Tandtekniker")
    assert draft.comment == "Akut besök, protes lagad."
    assert (draft.remaining_teeth, draft.intact_teeth) == (20, 12)
    assert draft.certificate_number == "764153"


def test_values_are_read_as_the_schema_reads_tokens():
    body = (
        "<Rakningskommentar/>"
        '<Besok datum=" 2025-09-01 "><Patientavgift belopp=" 0 "/><Atgard kod=" 401 " tand="36 " pris="980"/></Besok>'
    )
    _header, [claim] = parse(encoded(invoice_xml(claim_xml(" 9-A ", pin="\n 200001012384 \n", body=body))))

    assert claim.faults == []
    assert (claim.draft.reference, claim.draft.personal_identity_number) == ("9-A", "200001012384")
    assert claim.draft.patient_fees == {D(2025, 9, 1): 0}
    assert claim.draft.lines == [LineDraft(visit_date=D(2025, 9, 1), code="401", tooth="36", price=98000)]
    assert claim.draft.comment == ""


def test_visits_of_one_claim_become_lines_in_file_order_with_a_fee_per_visit():
    body = (
        '<Besok datum="2025-09-08"><Patientavgift belopp="150.5"/><Atgard kod="301"/></Besok>'
        '<Besok datum="2025-09-01"><Atgard kod="101"/><Atgard kod="401" tand="55"/></Besok>'
    )
    _header, [claim] = parse(encoded(invoice_xml(claim_xml(body=body))))

    assert [(line.visit_date, line.code) for line in claim.draft.lines] == [
        (D(2025, 9, 8), "301"),
        (D(2025, 9, 1), "101"),
        (D(2025, 9, 1), "401"),
    ]
    assert claim.draft.patient_fees == {D(2025, 9, 8): 15050}


# Faults inside a claim -----------------------------------------------------------------------------------------


def test_schema_faults_are_reported_for_their_claim_and_the_others_parse():
    _header, claims = parse(MIXED)

    assert [claim.index for claim in claims] == [1, 2, 3, 4, 5, 6]
    assert [claim.draft is not None for claim in claims] == [True, False, False, False, True, True]
    by_reference = {claim.reference: claim for claim in claims}

    second = by_reference["981002"]
    assert second.personal_identity_number == "20000101238"
    assert [(f.code, f.field, f.message) for f in second.faults] == [
        (
            "schema_value_invalid",
            "personal_identity_number",
            "Elementet Personnummer: värdet '20000101238' är inte tolv siffror ÅÅÅÅMMDDNNNN.",
        ),
        ("schema_value_invalid", "support_form", "Elementet Stodform: värdet 'X' ska vara N, F eller S."),
    ]

    third = by_reference["981003"]
    assert [(f.field, f.line, f.message) for f in third.faults] == [
        ("lines", None, "Elementet Besok saknar attributet datum."),
        (
            "patient_fees",
            None,
            "Elementet Patientavgift, attributet belopp: värdet '200,50' är inget belopp i kronor med högst två "
            "decimaler efter punkt, som 980 eller 1250.50.",
        ),
        ("lines", 0, "Elementet Atgard, attributet tand: värdet '19' är inget tandnummer enligt FDI (11–48, 51–85)."),
        ("lines", 1, "Elementet Atgard, attributet kak: värdet 'ÖK' ska vara OK eller UK."),
    ]

    fourth = by_reference["981004"]
    assert [f.message for f in fourth.faults] == [
        "Elementet Kommentar får inte stå här; här väntas Intygsnummer, Vardmodell, Patientkategori, "
        "Forhandsbedomning, Frikort, Rakningskommentar, Tandhalsa eller Besok."
    ]

    # A visit date's fee given twice is the validation's to find: the second fee comes as a patAvg line.
    fifth = by_reference["981005"]
    assert fifth.faults == []
    assert fifth.draft.patient_fees == {D(2025, 9, 5): 20000}
    assert fifth.draft.lines == [
        LineDraft(D(2025, 9, 5), "101"),
        LineDraft(D(2025, 9, 5), "301"),
        LineDraft(D(2025, 9, 5), "patAvg", price=10000),
    ]
    # A personnummer of twelve digits with a wrong check digit is the validation's to find, not the parser's.
    assert by_reference["981006"].draft.personal_identity_number == "200001012385"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "<Rakningsreferens>1</Rakningsreferens><Personnummer>200001012384</Personnummer><Stodform>N</Stodform>",
            "Elementet Rakning saknar Intygsnummer, Vardmodell, Patientkategori, Forhandsbedomning, Frikort, "
            "Rakningskommentar, Tandhalsa eller Besok.",
        ),
        (
            "<Personnummer>200001012384</Personnummer>",
            "Elementet Personnummer får inte stå här; här väntas Rakningsreferens.",
        ),
        (
            "<Rakningsreferens>1</Rakningsreferens><Personnummer>200001012384</Personnummer><Stodform>N</Stodform>"
            '<Besok datum="2025-09-01"><Atgard kod="101" antal="2"/></Besok>',
            "Elementet Atgard får inte ha attributet antal.",
        ),
        (
            "<Rakningsreferens>1</Rakningsreferens><Personnummer>200001012384</Personnummer><Stodform>N</Stodform>"
            '<Besok datum="2025-09-01"><Atgard/></Besok>',
            "Elementet Atgard saknar attributet kod.",
        ),
        (
            "<Rakningsreferens>1</Rakningsreferens>text<Personnummer>200001012384</Personnummer>"
            '<Stodform>N</Stodform><Besok datum="2025-09-01"><Atgard kod="101"/></Besok>',
            "Elementet Rakning får inte innehålla text.",
        ),
        (
            "<Rakningsreferens>1</Rakningsreferens><Personnummer>200001012384</Personnummer><Stodform>N</Stodform>"
            '<Besok datum="2025-02-30"><Atgard kod="101"/></Besok>',
            "Elementet Besok, attributet datum: värdet '2025-02-30' är inget datum ÅÅÅÅ-MM-DD.",
        ),
        (
            "<Rakningsreferens>1</Rakningsreferens><Personnummer>200001012384</Personnummer><Stodform>N</Stodform>"
            "<Tandhalsa><KvarvarandeTander>33</KvarvarandeTander><IntaktaTander>1</IntaktaTander></Tandhalsa>"
            '<Besok datum="2025-09-01"><Atgard kod="101" pris="12.345"/></Besok>',
            "Elementet KvarvarandeTander: värdet '33' ska vara ett heltal 0–32.",
        ),
        (
            "<Rakningsreferens>ett nummer</Rakningsreferens><Personnummer>200001012384</Personnummer>"
            '<Stodform>N</Stodform><Besok datum="2025-09-01"><Atgard kod="101"/></Besok>',
            "Elementet Rakningsreferens: värdet 'ett nummer' ska ha 1–20 tecken: siffror, bokstäver A–Z och "
            "bindestreck.",
        ),
    ],
)
def test_a_schema_fault_names_the_element_in_swedish(body, message):
    _header, [claim] = parse(encoded(invoice_xml(f"<Rakning>{body}</Rakning>")))

    assert claim.draft is None
    assert claim.faults[0].message == message


def test_a_huge_value_inside_a_claim_is_a_fault_of_that_claim_quoted_briefly():
    comment = "x" * (5 * MB)
    body = f'<Rakningskommentar>{comment}</Rakningskommentar><Besok datum="2025-09-01"><Atgard kod="101"/></Besok>'
    _header, claims = parse(encoded(invoice_xml(claim_xml("1", body=body), claim_xml("2"))))

    [fault] = claims[0].faults
    assert fault.message == f"Elementet Rakningskommentar: värdet '{'x' * 40}…' får ha högst 500 tecken."
    assert claims[1].draft is not None


# Faults of the whole file ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            HEADER.replace(">31<", ">klinik 31<"),
            "Elementet Kliniknummer: värdet 'klinik 31' ska vara 1–10 siffror.",
        ),
        (
            HEADER.replace("212962", "2" * 26),
            f"Elementet Fakturareferens: värdet '{'2' * 26}' ska ha 1–25 tecken: siffror, bokstäver A–Z och "
            "bindestreck.",
        ),
        (
            HEADER.replace("<Skapad>2025-10-01T08:15:00</Skapad>", ""),
            "Elementet Huvud saknar Skapad.",
        ),
        (
            HEADER.replace("2025-10-01T08:15:00", "1 oktober"),
            "Elementet Skapad: värdet '1 oktober' är ingen tidpunkt ÅÅÅÅ-MM-DDTtt:mm:ss.",
        ),
    ],
)
def test_a_schema_fault_in_the_header_rejects_the_file(header, message):
    error = rejected(encoded(invoice_xml(header=header)))

    assert (error.code, error.message) == ("header_invalid", message)


@pytest.mark.parametrize(
    ("root", "code", "message"),
    [
        (
            '<Fakturafil xmlns="urn:se:tandvardsstod:fakturafil:2" version="1">',
            "namespace",
            "Fakturafil har namnrymden urn:se:tandvardsstod:fakturafil:2, ska vara urn:se:tandvardsstod:fakturafil:1.",
        ),
        (
            '<Fakturafil version="1">',
            "namespace",
            "Fakturafil har namnrymden (ingen), ska vara urn:se:tandvardsstod:fakturafil:1.",
        ),
        (
            f'<Invoice xmlns="{NAMESPACE}" version="1">',
            "not_invoice_file",
            "Filen är ingen fakturafil: rotelementet är Invoice, ska vara Fakturafil i namnrymden "
            "urn:se:tandvardsstod:fakturafil:1.",
        ),
        (
            f'<Fakturafil xmlns="{NAMESPACE}" version="2">',
            "version",
            "Filen har version 2 av formatet; portalen tar emot version 1.",
        ),
        (
            f'<Fakturafil xmlns="{NAMESPACE}">',
            "version",
            "Fakturafil saknar attributet version; portalen tar emot version 1.",
        ),
        (
            f'<Fakturafil xmlns="{NAMESPACE}" version="1" skapad="idag">',
            "structure",
            "Fakturafil får inte ha attributet skapad.",
        ),
    ],
)
def test_the_wrong_namespace_root_or_version_rejects_the_file(root, code, message):
    error = rejected(encoded(invoice_xml(root=root)))

    assert (error.code, error.message) == (code, message)


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (invoice_xml(header=""), "header_missing", "Filen saknar Huvud; det ska stå först i Fakturafil."),
        (invoice_xml(claim_xml(), HEADER), "structure", "Huvud får bara stå en gång, först i Fakturafil (rad 4)."),
        (
            invoice_xml(claim_xml(), "<Bilaga>pdf</Bilaga>"),
            "structure",
            "Elementet Bilaga får inte stå i Fakturafil (rad 4).",
        ),
        (
            invoice_xml(claim_xml("1"), "lös text", claim_xml("2")),
            "structure",
            "Fakturafil får inte innehålla text mellan sina element (vid rad 5).",
        ),
        (
            invoice_xml().replace("</Fakturafil>", "text</Fakturafil>"),
            "structure",
            "Fakturafil får inte innehålla text mellan sina element (vid rad 3).",
        ),
        (
            invoice_xml().replace("<Huvud>", "text<Huvud>"),
            "structure",
            "Fakturafil får inte innehålla text mellan sina element (vid rad 2).",
        ),
    ],
)
def test_what_the_root_may_not_hold_rejects_the_file(text, code, message):
    error = rejected(encoded(text, prolog=""))

    assert (error.code, error.message) == (code, message)


def test_a_file_without_claims_is_rejected():
    text = f'<Fakturafil xmlns="{NAMESPACE}" version="1">{HEADER}</Fakturafil>'
    error = rejected(encoded(text))

    assert (error.code, error.message) == ("no_claims", "Filen innehåller ingen räkning.")


@pytest.mark.parametrize("comment", ["Smith & Co", "Smith &Co och Son"])
def test_a_lone_ampersand_is_a_typo_not_a_forbidden_construct(comment):
    body = f'<Rakningskommentar>{comment}</Rakningskommentar><Besok datum="2025-09-01"><Atgard kod="101"/></Besok>'
    error = rejected(encoded(invoice_xml(claim_xml(body=body))))

    assert error.code == "not_well_formed"
    assert error.message.startswith("Filen är inte välformad XML (rad 4, kolumn ")


def test_a_file_that_is_not_well_formed_is_rejected_naming_the_line():
    text = invoice_xml(claim_xml("1"), claim_xml("2").replace("</Stodform>", "</Stodfrom>"))
    error = rejected(encoded(text))

    assert error.code == "not_well_formed"
    assert error.line == 5
    assert error.message.startswith("Filen är inte välformad XML: en sluttagg stämmer inte med starttaggen (rad 5,")


def test_a_fault_further_into_the_file_is_raised_by_the_claims_after_those_before_it():
    text = invoice_xml(claim_xml("1"), claim_xml("2")).removesuffix("</Fakturafil>")
    invoice_file = parse_invoice_file(io.BytesIO(encoded(text)))
    read = []

    with pytest.raises(InvoiceFileRejected) as caught:
        read.extend(invoice_file.claims)

    assert caught.value.code == "not_well_formed"
    assert "filen tar slut innan alla element är avslutade" in caught.value.message
    assert [claim.reference for claim in read] == ["1", "2"]


# Hostile files --------------------------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Fakturafil [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
""" + invoice_xml(header=HEADER.replace("</Skapad>", "</Skapad><Programvara>&lol9;</Programvara>"))

EXTERNAL_ENTITY = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Fakturafil [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
""" + invoice_xml(header=HEADER.replace("</Skapad>", "</Skapad><Programvara>&xxe;</Programvara>"))

EXTERNAL_DTD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Fakturafil SYSTEM "http://tandportal.invalid/fakturafil.dtd">
""" + invoice_xml()

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Fakturafil [<!ENTITY % remote SYSTEM "http://tandportal.invalid/evil.dtd"> %remote;]>
""" + invoice_xml()

XINCLUDE_IN_HEADER = invoice_xml(
    header=HEADER.replace(
        "</Skapad>",
        '</Skapad><Programvara><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" '
        'parse="text"/></Programvara>',
    )
)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(EXTERNAL_ENTITY, id="external-entity-etc-passwd"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(EXTERNAL_DTD, id="external-dtd"),
        pytest.param(PARAMETER_ENTITY, id="parameter-entity"),
        pytest.param("\ufeff" + EXTERNAL_DTD, id="doctype-after-a-byte-order-mark"),
        pytest.param(
            '<?xml version="1.0"?>\n<!--' + "x" * 200_000 + "-->\n<?note a?>\n" + EXTERNAL_DTD.split("\n", 1)[1],
            id="doctype-after-a-long-comment",
        ),
        pytest.param(XINCLUDE_IN_HEADER, id="xinclude"),
        pytest.param(
            invoice_xml(claim_xml(body='<Besok datum="2025-09-01"><Atgard kod="&kod;"/></Besok>')),
            id="entity-reference",
        ),
        pytest.param(
            '<?xml-stylesheet type="text/xsl" href="http://tandportal.invalid/a.xsl"?>' + invoice_xml(),
            id="stylesheet",
        ),
        pytest.param(
            invoice_xml(
                root=f'<Fakturafil xmlns="{NAMESPACE}" version="1" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                f'xsi:schemaLocation="{NAMESPACE} http://tandportal.invalid/fakturafil.xsd">'
            ),
            id="schema-location",
        ),
    ],
)
def test_a_file_with_forbidden_constructs_is_refused_whole_without_expanding_or_fetching(text):
    data = text.encode("utf-8")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = rejected(data)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (error.code, error.message) == ("forbidden", FORBIDDEN)
    assert "root:" not in error.message
    assert time.perf_counter() - started < 2
    assert peak < 2 * MB


def test_a_forbidden_construct_further_into_the_file_is_raised_by_the_claims():
    xinclude = '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>'
    text = invoice_xml(claim_xml("1"), claim_xml("2", body=f'<Besok datum="2025-09-01">{xinclude}</Besok>'))
    invoice_file = parse_invoice_file(io.BytesIO(encoded(text)))

    with pytest.raises(InvoiceFileRejected) as caught:
        list(invoice_file.claims)

    assert (caught.value.code, caught.value.message, caught.value.line) == ("forbidden", FORBIDDEN, 5)


def test_a_file_over_the_limit_is_refused_before_anything_is_read(tmp_path):
    path = tmp_path / "stor.xml"
    with open(path, "wb") as file:
        file.truncate(60 * MB)  # sparse: no disk used, nothing worth reading

    started = time.perf_counter()
    with CountingFile(path, "rb") as file:
        with pytest.raises(InvoiceFileRejected) as caught:
            parse_invoice_file(file)
        assert file.bytes_read == 0
    error = rejected(path)

    assert (caught.value.code, caught.value.message) == ("too_large", "Filen är större än 50 MB.")
    assert error.message == "Filen är större än 50 MB."
    assert time.perf_counter() - started < 1


def test_the_limit_is_a_setting_and_holds_for_a_stream_that_cannot_seek():
    data = encoded(invoice_xml(*(claim_xml(str(n)) for n in range(6000))))
    assert len(data) > MB

    class Pipe(io.RawIOBase):
        """A stream that can only be read forwards, like a socket."""

        def __init__(self):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    assert rejected(Pipe(), max_bytes=MB).message == "Filen är större än 1 MB."
    _header, claims = parse(Pipe(), max_bytes=2 * MB)
    assert len(claims) == 6000


def test_a_deeply_nested_document_is_refused_at_once():
    nested = "<Besok>" * 100_000 + "</Besok>" * 100_000
    for text in (invoice_xml(nested), invoice_xml(claim_xml(body=nested))):
        started = time.perf_counter()
        error = rejected(encoded(text))

        assert error.code == "too_deep"
        assert error.message == f"Filen har fler nivåer av element än formatet tillåter (rad {error.line})."
        assert time.perf_counter() - started < 1


def test_a_ten_megabyte_text_node_is_refused_by_the_parser_limits():
    data = encoded(
        invoice_xml(header=HEADER.replace("</Skapad>", "</Skapad><Programvara>" + "x" * (10 * MB) + "</Programvara>"))
    )
    tracemalloc.start()
    try:
        error = rejected(data)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert error.code == "limit"
    assert error.message == (
        "Filen innehåller ett element eller värde som är för stort eller för djupt nästlat (rad 3)."
    )
    assert peak < 2 * MB


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"Kliniknummer;Personnummer\n31;200001012384\n", "not_xml", "Filen är inte en XML-fil."),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not_xml", "Filen är inte en XML-fil."),
        (b"\x00\x01\x02\x03binary", "not_xml", "Filen är inte en XML-fil."),
        (b"", "empty", "Filen är tom."),
        (b"  \n", "not_xml", "Filen är inte en XML-fil."),
        (
            b"<?xml version='1.0'?>",
            "not_well_formed",
            "Filen är inte välformad XML: filen innehåller inget element (rad 1, kolumn 22).",
        ),
    ],
)
def test_what_is_not_xml_is_refused(data, code, message):
    error = rejected(data)

    assert (error.code, error.message) == (code, message)


def test_a_zip_renamed_xml_is_refused(tmp_path):
    path = tmp_path / "faktura.xml"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("faktura.xml", encoded(invoice_xml()))

    error = rejected(path)

    assert (error.code, error.message) == ("not_xml", "Filen är inte en XML-fil.")


# Encodings --------------------------------------------------------------------------------------------------------

COMMENTED = claim_xml(
    body='<Rakningskommentar>Käkled, överkäke</Rakningskommentar><Besok datum="2025-09-01">'
    '<Patientavgift belopp="200"/><Atgard kod="101"/></Besok>'
)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encoded(invoice_xml(COMMENTED), prolog=""), id="utf-8-without-declaration"),
        pytest.param(b"\xef\xbb\xbf" + encoded(invoice_xml(COMMENTED)), id="utf-8-with-bom"),
        pytest.param(
            encoded(invoice_xml(COMMENTED), prolog='<?xml version="1.0" encoding="utf-8"?>\n'), id="utf-8-lower-case"
        ),
        pytest.param(
            encoded(invoice_xml(COMMENTED), prolog="<?xml version='1.0' encoding='ISO-8859-1'?>\n", encoding="latin-1"),
            id="iso-8859-1",
        ),
    ],
)
def test_utf_8_and_a_declared_iso_8859_1_are_read(data):
    _header, [claim] = parse(data)

    assert claim.draft.comment == "Käkled, överkäke"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            encoded(invoice_xml(), prolog='<?xml version="1.0" encoding="UTF-16"?>\n', encoding="utf-16"),
            "Filen har teckenkodningen UTF-16. Portalen tar emot UTF-8 och ISO-8859-1.",
        ),
        (
            encoded(invoice_xml(), prolog="", encoding="utf-16-le"),
            "Filen har teckenkodningen UTF-16. Portalen tar emot UTF-8 och ISO-8859-1.",
        ),
        (
            encoded(invoice_xml(), prolog="", encoding="utf-32"),
            "Filen har teckenkodningen UTF-32. Portalen tar emot UTF-8 och ISO-8859-1.",
        ),
        (
            encoded(
                invoice_xml(COMMENTED.replace("Käkled", "Käkled €")),
                prolog='<?xml version="1.0" encoding="windows-1252"?>\n',
                encoding="cp1252",
            ),
            "Filen har teckenkodningen windows-1252. Portalen tar emot UTF-8 och ISO-8859-1.",
        ),
    ],
)
def test_other_encodings_are_refused(data, message):
    error = rejected(data)

    assert (error.code, error.message) == ("encoding", message)


def test_iso_8859_1_bytes_without_a_declaration_are_refused_naming_the_line():
    error = rejected(encoded(invoice_xml(COMMENTED), encoding="latin-1"))

    assert error.code == "encoding"
    assert error.message.startswith("Filen innehåller tecken som inte är giltiga i sin teckenkodning (rad 4).")


# Sources ------------------------------------------------------------------------------------------------------------


def test_a_path_an_uploaded_file_and_a_file_object_are_read_alike(tmp_path):
    upload = SimpleUploadedFile("faktura.xml", EXAMPLE.read_bytes(), content_type="text/xml")
    results = [parse(EXAMPLE), parse(str(EXAMPLE)), parse(upload), parse(EXAMPLE.read_bytes())]

    assert all(result == results[0] for result in results)


def test_a_file_opened_from_a_path_is_closed_when_the_claims_are_left(monkeypatch):
    opened = []
    real_open = open

    def tracking_open(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        if file == EXAMPLE:
            opened.append(handle)
        return handle

    monkeypatch.setattr("builtins.open", tracking_open)
    with parse_invoice_file(EXAMPLE) as invoice_file:
        next(invoice_file.claims)
        assert not opened[0].closed
    assert opened[0].closed
    with parse_invoice_file(EXAMPLE) as invoice_file:
        list(invoice_file.claims)
        assert opened[1].closed
    parse_invoice_file(EXAMPLE).close()
    assert opened[2].closed


# Streaming ------------------------------------------------------------------------------------------------------------


def write_large_file(path: Path, claims: int) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Fakturafil xmlns="{NAMESPACE}" version="1">\n{HEADER}\n')
        for n in range(claims):
            file.write(
                f"<Rakning>\n  <Rakningsreferens>R{n:08d}</Rakningsreferens>\n"
                "  <Personnummer>200001012384</Personnummer>\n"
                "  <Stodform>N</Stodform>\n  <Intygsnummer>764153</Intygsnummer>\n  <Vardmodell>K1</Vardmodell>\n"
                "  <Rakningskommentar>Kontroll och lagning, åter om sex månader.</Rakningskommentar>\n"
                '  <Besok datum="2025-09-01">\n    <Patientavgift belopp="200"/>\n    <Atgard kod="101"/>\n'
                '    <Atgard kod="401" tand="36"/>\n    <Atgard kod="901" pris="1250.50" kommentar="Tandtekniker"/>\n'
                "  </Besok>\n</Rakning>\n"
            )
        file.write("</Fakturafil>\n")


@pytest.mark.slow  # a file of 20 000 claims
def test_twenty_thousand_claims_are_read_in_memory_that_does_not_grow_with_the_file(tmp_path):
    path = tmp_path / "stor.xml"
    write_large_file(path, 20_000)
    size = path.stat().st_size
    assert size > 8 * MB
    process = psutil.Process()
    baseline = process.memory_info().rss
    rss_growth = 0
    count = 0

    tracemalloc.start()
    started = time.perf_counter()
    try:
        with parse_invoice_file(path) as invoice_file:
            for claim in invoice_file.claims:
                assert claim.draft is not None, claim.faults
                count += 1
                if count % 1000 == 0:
                    rss_growth = max(rss_growth, process.memory_info().rss - baseline)
        elapsed = time.perf_counter() - started
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    print(
        f"\n20 000 claims, {size / MB:.1f} MB: {elapsed:.1f} s traced, peak {peak / MB:.2f} MB traced, "
        f"RSS growth {rss_growth / MB:.1f} MB"
    )
    assert count == 20_000
    # Holding the file's bytes or all the claims in Python would take more than this...
    assert peak < 5 * MB
    # ...and keeping libxml2's tree (about 10 times the file) shows in the process's memory.
    assert rss_growth < 40 * MB


def test_the_schema_allows_exactly_the_fdi_teeth_the_validation_knows():
    # The schema is the file's published contract and says the tooth rule in its own pattern: held here to the
    # one list of teeth, portal.validators.FDI_TEETH, that the validation and the forms use.
    namespace = {"xs": "http://www.w3.org/2001/XMLSchema"}
    schema = etree.parse(str(SCHEMA_PATH))
    (pattern,) = schema.xpath("//xs:simpleType[@name='TandTyp']//xs:pattern/@value", namespaces=namespace)
    allowed = {f"{a}{b}" for a in range(10) for b in range(10) if re.fullmatch(pattern, f"{a}{b}")}
    assert allowed == FDI_TEETH
