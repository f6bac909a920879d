"""The invoice-file format page for suppliers, its XSD and its example, which the XSD accepts."""

import datetime

from django.utils import timezone
from lxml import etree

from billing.invoice_file_examples import invoice_file_example


def test_the_format_page_is_public_and_in_swedish(client, db):
    body = client.get("/dokumentation/fakturafil/").content.decode()
    assert "Fakturafil, version 1" in body
    assert "urn:se:tandvardsstod:fakturafil:1" in body
    assert "Patienten saknar giltigt intyg för N-tandvård." in body  # the checks, with their messages
    assert "&lt;Fakturafil" in body  # the example, escaped


def test_the_example_file_is_valid_against_the_downloadable_schema(client, db):
    schema_response = client.get("/dokumentation/fakturafil/fakturafil-v1.xsd")
    example_response = client.get("/dokumentation/fakturafil/exempel.xml")
    assert schema_response.status_code == example_response.status_code == 200
    assert "attachment" in schema_response["Content-Disposition"]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.fromstring(b"".join(schema_response.streaming_content), parser))
    example = etree.fromstring(example_response.content, parser)
    assert schema.validate(example), schema.error_log


def test_the_example_handed_out_is_dated_relative_to_today(client, db):
    today = timezone.localdate()
    downloaded = client.get("/dokumentation/fakturafil/exempel.xml").content.decode()
    page = client.get("/dokumentation/fakturafil/").content.decode()

    assert downloaded == invoice_file_example(today=today)
    assert f"<Skapad>{today.isoformat()}T08:15:00</Skapad>" in downloaded
    # Written on 2025-10-01 about visits of 2025-09-01 and 09-03: the same distance before today.
    assert f'<Besok datum="{(today - datetime.timedelta(days=30)).isoformat()}">' in downloaded
    assert f'<Besok datum="{(today - datetime.timedelta(days=28)).isoformat()}">' in downloaded
    assert f"<Forhandsbedomning>FHB-{today.year}-000001</Forhandsbedomning>" in downloaded
    assert f"{today.isoformat()}T08:15:00" in page and "2025-10-01" not in page


def test_an_example_moves_across_a_leap_day_and_a_new_year():
    text = invoice_file_example(today=datetime.date(2028, 3, 1))

    assert "<Skapad>2028-03-01T08:15:00</Skapad>" in text
    assert '<Besok datum="2028-01-31">' in text  # 30 days before, across February 29
    assert "FHB-2028-000001" in text


def test_the_format_page_documents_the_umbrella_organisations_file(client, db):
    body = client.get("/dokumentation/fakturafil/").content.decode()
    assert 'id="paraplyorganisation"' in body
    assert "&lt;Organisationsnummer&gt;5566778899&lt;/Organisationsnummer&gt;" in body
    assert "Klinik X hör inte till ORGANISATION och kan inte faktureras i organisationens fil." in body


def test_the_schema_takes_an_organisations_header_and_a_clinic_per_claim(client, db):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema_response = client.get("/dokumentation/fakturafil/fakturafil-v1.xsd")
    schema = etree.XMLSchema(etree.fromstring(b"".join(schema_response.streaming_content), parser))
    example = invoice_file_example(today=timezone.localdate())
    organisation_file = example.replace(
        "<Kliniknummer>31</Kliniknummer>", "<Organisationsnummer>5566778899</Organisationsnummer>"
    ).replace("</Rakningsreferens>", "</Rakningsreferens>\n    <Kliniknummer>32</Kliniknummer>")
    assert "Organisationsnummer" in organisation_file and organisation_file.count("<Kliniknummer>32") == 2
    assert schema.validate(etree.fromstring(organisation_file.encode(), parser)), schema.error_log
    # A header with both, or with neither, is no file of the format.
    both = organisation_file.replace("<Organisationsnummer>", "<Kliniknummer>31</Kliniknummer><Organisationsnummer>")
    assert not schema.validate(etree.fromstring(both.encode(), parser))
