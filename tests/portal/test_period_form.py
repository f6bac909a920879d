"""The one period form (Från och med / Till och med) that Era fakturor, Granskning and the access log share."""

import datetime

from django.utils import timezone

from billing.invoice_views import InvoiceSearchForm
from portal.forms import PeriodForm
from review.forms import ClaimFilterForm


class LastThirtyDays(PeriodForm):
    default_days = 30


def test_an_empty_period_is_the_last_days_up_to_today():
    form = LastThirtyDays({})
    assert form.is_valid()
    today = timezone.localdate()
    assert (form.cleaned_data["date_from"], form.cleaned_data["date_to"]) == (
        today - datetime.timedelta(days=30),
        today,
    )
    assert (form.fields["date_from"].initial, form.fields["date_to"].initial) == LastThirtyDays.default_period()


def test_a_chosen_end_alone_takes_the_days_before_it():
    form = LastThirtyDays({"date_to": "2026-03-31"})
    assert form.is_valid()
    assert form.cleaned_data["date_from"] == datetime.date(2026, 3, 1)


def test_an_end_before_the_start_is_refused_by_the_end():
    form = PeriodForm({"date_from": "2026-03-31", "date_to": "2026-03-01"})
    assert not form.is_valid()
    assert form.errors == {"date_to": ["Slutdatum kan inte ligga före startdatum."]}


def test_without_default_days_an_empty_date_leaves_the_period_open():
    form = PeriodForm({"date_from": "2026-03-01"})
    assert form.is_valid()
    assert form.cleaned_data["date_to"] is None


def test_the_searches_are_period_forms_with_their_own_words(db, world):
    assert issubclass(InvoiceSearchForm, PeriodForm) and InvoiceSearchForm.default_days == 30
    review_filter = ClaimFilterForm({"date_from": "2026-03-31", "date_to": "2026-03-01"}, region=world.vg)
    assert not review_filter.is_valid()
    assert review_filter.errors["date_to"] == ["Slutdatum kan inte ligga före startdatum."]
    assert str(review_filter.fields["date_from"].label) == "Inkom från och med"
