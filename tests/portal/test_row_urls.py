"""A list's row links reversed once (portal.row_urls): the same URL as reverse() for each row, digits only."""

import pytest
from django.urls import reverse

from portal.row_urls import row_url


def test_each_rows_link_is_what_reverse_gives_for_it():
    invoice = row_url("invoice_detail", "clinic_pk", "invoice_pk")
    claim = row_url("review_claim_detail", "claim_pk", region_code="vg")
    clinic = row_url("region_clinic_detail", "clinic_number", region_code="vg")

    assert invoice(clinic_pk=3, invoice_pk=70) == reverse("invoice_detail", kwargs={"clinic_pk": 3, "invoice_pk": 70})
    assert claim(claim_pk=12) == reverse("review_claim_detail", kwargs={"region_code": "vg", "claim_pk": 12})
    assert clinic(clinic_number="0501") == reverse(
        "region_clinic_detail", kwargs={"region_code": "vg", "clinic_number": "0501"}
    )


def test_a_key_that_is_not_digits_is_refused():
    clinic = row_url("region_clinic_detail", "clinic_number", region_code="vg")
    with pytest.raises(ValueError, match="digits only"):
        clinic(clinic_number="5/../x")
