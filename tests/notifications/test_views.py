"""Aviseringar in the portal: the bell's count in the header (one query), the inbox newest first in the reader's
language with a link to the object, Markera som läst / alla, another person's notification a 404, and the e-mail
choices in Mitt konto; the language a person switches to is kept for their e-mails."""

import datetime

import lxml.html
import pytest
from django.urls import reverse
from django.utils import timezone, translation

from notifications import tasks
from notifications.models import EMAILABLE_KINDS, Notification, NotificationKind, NotificationPreference
from notifications.selectors import notification_text, notifications_inbox, notifications_unread_count
from portal.models import AuditEvent
from tests.claims.factories import ClaimFactory


def notify(user, world, kind=NotificationKind.QUESTION_ASKED, **params):
    claim = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)
    return Notification.objects.create(
        recipient=user,
        kind=kind,
        clinic=world.clinic,
        object_type="claim",
        object_id=claim.pk,
        params={"claim_reference": "R-9", **params},
    )


def page(response):
    return lxml.html.fromstring(response.content.decode())


@pytest.fixture
def biller_client(client, small_world):
    client.force_login(small_world.biller)
    return client


def test_the_bell_shows_the_unread_count_in_words_on_every_page(biller_client, small_world):
    notify(small_world.biller, small_world)
    notify(small_world.biller, small_world)
    Notification.objects.create(
        recipient=small_world.biller,
        kind="payout_made",
        object_type="payout_payment",
        object_id=1,
        read_at="2026-01-01T00:00Z",
    )
    notify(small_world.admin, small_world)  # someone else's

    html = page(biller_client.get(reverse("account")))

    [bell] = html.xpath("//a[contains(@class, 'site-header__notifications')]")
    assert bell.text_content().strip() == "Aviseringar (2 olästa)"
    assert bell.get("href") == reverse("notification_inbox")
    assert bell.xpath(".//*[contains(@class, 'visually-hidden')]")  # the number is said, not only shown


def test_the_bell_without_unread_says_only_aviseringar(biller_client, small_world):
    html = page(biller_client.get(reverse("account")))
    assert html.xpath("//a[contains(@class, 'site-header__notifications')]")[0].text_content().strip() == "Aviseringar"


def test_the_bells_count_is_one_query(small_world, django_assert_num_queries):
    notify(small_world.biller, small_world)
    with django_assert_num_queries(1):
        assert notifications_unread_count(user=small_world.biller) == 1


def test_the_inbox_lists_the_persons_notifications_newest_first_with_links(biller_client, small_world):
    first = notify(small_world.biller, small_world)
    second = notify(small_world.biller, small_world, kind=NotificationKind.CLAIM_VOIDED)
    notify(small_world.admin, small_world)

    html = page(biller_client.get(reverse("notification_inbox")))

    items = html.xpath("//li[@data-kind]")
    assert [item.get("data-kind") for item in items] == ["claim_voided", "question_asked"]
    links = [item.xpath(".//a")[0].get("href") for item in items]
    assert links == [
        reverse("invoice_claim_detail", kwargs={"clinic_pk": small_world.clinic.pk, "claim_pk": obj.object_id})
        for obj in (second, first)
    ]
    assert "Tandvårdssamordningen har en fråga om räkning R-9." in items[1].text_content()


def test_the_inbox_is_in_the_readers_language(client, small_world):
    notify(small_world.biller, small_world)
    client.force_login(small_world.biller)
    client.cookies["django_language"] = "en"

    text = page(client.get(reverse("notification_inbox"))).text_content()

    assert "The dental care coordination has a question about claim R-9." in text
    assert "Mark as read" in text


def test_the_inbox_pages_by_id(small_world):
    made = [notify(small_world.biller, small_world).pk for _ in range(5)]

    first = notifications_inbox(user=small_world.biller, size=2)
    second = notifications_inbox(user=small_world.biller, before=first.older_than, size=2)
    last = notifications_inbox(user=small_world.biller, before=second.older_than, size=2)

    assert [n.pk for n in first.notifications + second.notifications + last.notifications] == made[::-1]
    assert last.older_than is None


def test_markera_som_last_marks_one_and_the_count_falls(biller_client, small_world):
    one, other = notify(small_world.biller, small_world), notify(small_world.biller, small_world)

    response = biller_client.post(reverse("notification_mark_read"), {"notification": one.pk})

    assert response.status_code == 302
    one.refresh_from_db()
    other.refresh_from_db()
    assert one.read_at is not None and other.read_at is None
    assert notifications_unread_count(user=small_world.biller) == 1
    assert AuditEvent.objects.filter(action="notifications.notification.read", object_id=str(one.pk)).exists()


def test_markera_alla_som_lasta_marks_only_the_persons_own(biller_client, small_world):
    notify(small_world.biller, small_world)
    notify(small_world.biller, small_world)
    theirs = notify(small_world.admin, small_world)

    biller_client.post(reverse("notification_mark_all_read"))

    assert notifications_unread_count(user=small_world.biller) == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_another_persons_notification_is_a_404_and_stays_unread(biller_client, small_world):
    theirs = notify(small_world.admin, small_world)
    mine = notify(small_world.biller, small_world)

    response = biller_client.post(reverse("notification_mark_read"), {"notification": theirs.pk})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # The biller's inbox offers no mark-read for it (the bare id could be any number on the page: a time, a count).
    inbox = page(biller_client.get(reverse("notification_inbox")))
    offered = inbox.xpath("//input[@name='notification']/@value")
    assert str(mine.pk) in offered
    assert str(theirs.pk) not in offered


def test_marking_read_needs_the_csrf_token(small_world):
    from django.test import Client

    notification = notify(small_world.biller, small_world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(small_world.biller)

    response = client.post(reverse("notification_mark_read"), {"notification": notification.pk})

    assert response.status_code == 403
    notification.refresh_from_db()
    assert notification.read_at is None


def test_the_email_choices_default_on_and_a_kind_switched_off_is_kept(biller_client, small_world):
    html = page(biller_client.get(reverse("account_notifications")))
    boxes = html.xpath("//input[@name='email_kinds']")
    assert len(boxes) == len(EMAILABLE_KINDS) and all(box.get("checked") is not None for box in boxes)

    kept = [kind for kind in EMAILABLE_KINDS if kind != NotificationKind.PAYOUT_MADE]
    response = biller_client.post(reverse("account_notifications"), {"email_kinds": kept})

    assert response.status_code == 302
    assert list(
        NotificationPreference.objects.filter(user=small_world.biller, email=False).values_list("kind", flat=True)
    ) == ["payout_made"]
    html = page(biller_client.get(reverse("account_notifications")))
    unchecked = [box.get("value") for box in html.xpath("//input[@name='email_kinds']") if box.get("checked") is None]
    assert unchecked == ["payout_made"]
    assert AuditEvent.objects.filter(action="notifications.preference.changed").count() == 1


def test_mitt_konto_links_to_the_email_choices(biller_client):
    html = page(biller_client.get(reverse("account")))
    assert html.xpath(f"//a[@href='{reverse('account_notifications')}']")


@pytest.mark.parametrize("via", ["switch", "account"])
def test_the_language_a_signed_in_person_chooses_is_kept_for_their_emails(biller_client, small_world, via):
    if via == "switch":
        biller_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    else:
        biller_client.post(reverse("account"), {"name": small_world.biller.name, "language": "en"})

    small_world.biller.refresh_from_db()
    assert small_world.biller.language == "en"
    assert AuditEvent.objects.filter(action="portal.account.language_changed").exists()


def test_the_language_switch_still_works_signed_out(client, db):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302 and response.cookies["django_language"].value == "en"


def test_the_sweep_mails_a_notification_whose_email_task_was_lost(small_world, mailoutbox):
    lost = notify(small_world.biller, small_world)
    recent = notify(small_world.admin, small_world)  # its task may still be in the queue: left to it
    Notification.objects.filter(pk=lost.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=6))

    tasks.notifications_sweep()

    assert [m.to for m in mailoutbox] == [[small_world.biller.email]]
    recent.refresh_from_db()
    assert recent.emailed_at is None


@pytest.mark.parametrize("kind", NotificationKind.values)
def test_every_kind_has_its_own_words_in_both_languages(small_world, kind):
    notification = Notification(
        recipient=small_world.biller,
        kind=kind,
        clinic=small_world.clinic,
        object_type="claim",
        object_id=1,
        params={"claim_reference": "R-1", "number": "FHB-2026-000001", "state": "approved", "claim_count": 3},
    )
    with translation.override("sv"):
        swedish = notification_text(notification)
    with translation.override("en"):
        english = notification_text(notification)
    assert swedish and english and swedish != english
