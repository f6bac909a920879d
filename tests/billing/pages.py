"""Reading Era fakturor's pages in tests as the browser sees them."""

import lxml.html


def opened_row(client, doc, reference: str):
    """What the invoice's row shows when opened: the part of a page its data-invoice-claims names (fetched by
    static/js/invoice-claims.js), as a document."""
    (details,) = doc.xpath(
        "//tbody[tr[1]/th[normalize-space()=$ref]]/tr[contains(@class, 'invoice__details')]/td/details",
        ref=reference,
    )
    (holder,) = details.xpath("./*[@data-invoice-claims]")
    response = client.get(holder.get("data-invoice-claims"))
    assert response.status_code == 200, response.status_code
    # A part of a page: no <meta charset> to tell lxml it is UTF-8.
    return lxml.html.document_fromstring(response.content.decode())
