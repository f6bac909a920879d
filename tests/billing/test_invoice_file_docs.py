"""The invoice-file format page for suppliers, its XSD and its example, which the XSD accepts."""

from lxml import etree


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
    example = etree.fromstring(b"".join(example_response.streaming_content), parser)
    assert schema.validate(example), schema.error_log
