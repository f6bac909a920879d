"""Keyset paging over a list given as several disjoint querysets (an organisation's invoices, one per clinic): each
read by its own index and merged by the database, with the pages of the single queryset of the same rows — every
row exactly once, rows of equal timestamps in both clinics, both directions, the last page."""

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext

from claims.models import Invoice
from portal.keyset import LAST, keyset_page, keyset_page_or_last
from tests.claims.factories import InvoiceFactory

T = datetime.datetime(2025, 3, 1, 9, 0, tzinfo=datetime.UTC)


def _invoices(small_world) -> tuple[Invoice.objects, list]:
    """Eleven invoices of two clinics, many sharing a timestamp within and across the clinics, and one of a third
    clinic outside the list."""
    clinic, other = small_world.clinic, small_world.other_clinic
    stamps = [
        (clinic, 0),
        (other, 0),
        (clinic, 0),
        (other, 1),
        (other, 1),
        (clinic, 2),
        (clinic, 3),
        (other, 3),
        (clinic, 3),
        (other, 3),
        (other, 5),
    ]
    for owner, minutes in stamps:
        invoice = InvoiceFactory(clinic=owner)
        Invoice.objects.filter(pk=invoice.pk).update(received_at=T + datetime.timedelta(minutes=minutes))
    outsider = InvoiceFactory(clinic=small_world.other_region_clinic)
    Invoice.objects.filter(pk=outsider.pk).update(received_at=T + datetime.timedelta(minutes=3))
    whole = Invoice.objects.of_clinics([clinic, other])
    return whole, [whole.filter(clinic=clinic), whole.filter(clinic=other)]


def _pages(listing, *, cursor=None, direction="next") -> list[list[int]]:
    """The pks of each page from `cursor` on, following the next (or the previous) page to the end."""
    pages = []
    while True:
        page = keyset_page(listing, cursor=cursor, size=2, stamp_field="received_at", count=False)
        pages.append([invoice.pk for invoice in page.object_list])
        cursor = page.next_cursor if direction == "next" else page.previous_cursor
        if not cursor:
            return pages


def test_pages_of_per_clinic_querysets_hold_every_row_once_in_order_both_ways(small_world):
    whole, per_clinic = _invoices(small_world)
    expected = list(whole.order_by("-received_at", "-id").values_list("pk", flat=True))
    assert len(expected) == 11

    forward = _pages(per_clinic)
    assert [pk for page in forward for pk in page] == expected
    assert forward == _pages(whole)  # the same pages as the single queryset's

    # Back from the last page: the same pages again, newest page last.
    last = keyset_page(per_clinic, cursor=None, size=2, stamp_field="received_at", count=False)
    while last.next_cursor:
        last = keyset_page(per_clinic, cursor=last.next_cursor, size=2, stamp_field="received_at", count=False)
    assert _pages(per_clinic, cursor=last.previous_cursor, direction="previous") == list(reversed(forward[:-1]))

    # The LAST cursor: the oldest two, and back from them every other row once.
    oldest = keyset_page_or_last(per_clinic, cursor=LAST, size=2, stamp_field="received_at")
    assert [invoice.pk for invoice in oldest.object_list] == expected[-2:]
    backward = _pages(per_clinic, cursor=oldest.previous_cursor, direction="previous")
    assert [pk for page in reversed(backward) for pk in page] == expected[:-2]


def test_pages_of_per_clinic_querysets_are_one_merged_query_with_a_count_of_all(small_world):
    whole, per_clinic = _invoices(small_world)
    with CaptureQueriesContext(connection) as queries:
        page = keyset_page(per_clinic, cursor=None, size=2, stamp_field="received_at")
    assert page.count == 11
    assert len(queries) == 3  # a count per clinic and the page
    assert "UNION ALL" in queries[-1]["sql"]
    assert [invoice.clinic_id for invoice in page.object_list] == [small_world.other_clinic.pk] * 2
    # One queryset in a list is read as itself.
    with CaptureQueriesContext(connection) as queries:
        keyset_page([whole], cursor=None, size=2, stamp_field="received_at", count=False)
    assert "UNION" not in queries[0]["sql"]
    assert keyset_page([], cursor=None, size=2, stamp_field="received_at").object_list == []
