"""Mitt konto, Glömt lösenord and how long a session lasts."""

import datetime
import re
import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import User
from portal import two_factor
from portal.models import AuditEvent
from portal.sessions import LOGGED_IN_AT, RENEWED_AT

PASSWORD = "tandvard-test"


def _link(message) -> str:
    (link,) = re.findall(r"https?://\S+", message.body)
    return link


def _app(user):
    return TOTPDevice.objects.create(user=user, name="App", key=two_factor.hex_key("JBSWY3DPEHPK3PXP"), confirmed=True)


# Glömt lösenord ----------------------------------------------------------------------------------------------


def test_forgotten_password_answers_the_same_for_unknown_addresses(client, small_world, settings):
    settings.PORTAL_BASE_URL = "https://portal.region.test"
    known = client.post("/glomt-losenord/", {"email": small_world.biller.email.upper()})
    unknown = client.post("/glomt-losenord/", {"email": "ingen@nowhere.test"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/glomt-losenord/skickat/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [small_world.biller.email]
    assert mail.outbox[0].subject == "Välj ett nytt lösenord i Tandportalen"
    link = _link(mail.outbox[0])
    assert link.startswith("https://portal.region.test/valj-losenord/")
    page = client.get("/glomt-losenord/skickat/").content.decode()
    assert "Om adressen finns i Tandportalen har vi skickat en länk dit." in page

    path = link.removeprefix("https://portal.region.test")
    form_page = client.get(path, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": "Nytt-hemligt-99", "new_password2": "Nytt-hemligt-99"}
    )
    assert response.status_code == 302
    small_world.biller.refresh_from_db()
    assert small_world.biller.check_password("Nytt-hemligt-99")


# Mitt konto --------------------------------------------------------------------------------------------------


def test_my_account_changes_the_name_and_the_language(client, small_world):
    client.force_login(small_world.biller)
    page = client.get("/konto/").content.decode()
    assert "Mitt konto" in page and small_world.biller.email in page

    response = client.post("/konto/", {"name": "Fia Nyberg", "language": "en"})

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    small_world.biller.refresh_from_db()
    assert small_world.biller.name == "Fia Nyberg"
    assert AuditEvent.objects.filter(
        action="portal.account.name_changed", object_id=str(small_world.biller.pk)
    ).exists()
    assert "My account" in client.get("/konto/").content.decode()


def test_changing_the_password_ends_the_other_sessions_but_not_this_one(client, small_world):
    biller = small_world.biller
    other = Client()
    other.force_login(biller)
    client.force_login(biller)

    response = client.post(
        "/konto/losenord/",
        {"old_password": PASSWORD, "new_password1": "Nytt-hemligt-99", "new_password2": "Nytt-hemligt-99"},
    )

    assert response.status_code == 302 and response["Location"] == "/konto/"
    assert client.get("/konto/").status_code == 200
    assert other.get("/konto/")["Location"].startswith("/logga-in/")
    assert AuditEvent.objects.filter(action="portal.account.password_changed").exists()


def test_a_wrong_current_password_changes_nothing(client, small_world):
    client.force_login(small_world.biller)
    response = client.post(
        "/konto/losenord/",
        {"old_password": "fel", "new_password1": "Nytt-hemligt-99", "new_password2": "Nytt-hemligt-99"},
    )
    assert response.status_code == 200
    small_world.biller.refresh_from_db()
    assert small_world.biller.check_password(PASSWORD)


def test_a_new_email_address_is_used_once_the_link_sent_to_it_is_opened(client, small_world, settings):
    settings.PORTAL_BASE_URL = "https://portal.region.test"
    biller = small_world.biller
    old = biller.email
    client.force_login(biller)

    response = client.post("/konto/e-post/", {"email": "Fia.Ny@Klinik.test", "password": PASSWORD})

    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["fia.ny@klinik.test"], [old]]
    biller.refresh_from_db()
    assert biller.email == old  # not before the link
    path = _link(mail.outbox[0]).removeprefix("https://portal.region.test")
    assert (
        "Byt e-postadress för ditt konto i Tandportalen till fia.ny@klinik.test?" in client.get(path).content.decode()
    )
    assert client.post(path).status_code == 302
    biller.refresh_from_db()
    assert biller.email == "fia.ny@klinik.test"
    assert AuditEvent.objects.filter(action="portal.account.email_changed").exists()
    # The link works once: the address it came from is no longer the account's.
    assert "Länken är ogiltig" in client.get(path).content.decode()


def test_the_email_address_needs_the_password_and_a_genuine_link(client, small_world):
    client.force_login(small_world.biller)
    response = client.post("/konto/e-post/", {"email": "ny@klinik.test", "password": "fel"})
    assert "Lösenordet stämmer inte." in response.content.decode()
    assert mail.outbox == []
    assert "Länken är ogiltig" in client.get("/konto/e-post/falsk-lank/").content.decode()
    assert client.post("/konto/e-post/falsk-lank/").status_code == 200


def test_an_address_taken_meanwhile_is_refused(client, small_world):
    client.force_login(small_world.biller)
    client.post("/konto/e-post/", {"email": small_world.admin.email.upper(), "password": PASSWORD})
    path = re.search(r"/konto/e-post/\S+/", mail.outbox[0].body).group(0)

    client.post(path)

    small_world.biller.refresh_from_db()
    assert small_world.biller.email != small_world.admin.email


def test_someone_who_must_use_two_factor_keeps_one_app(client, small_world):
    coordinator = small_world.coordinator
    device = _app(coordinator)
    client.force_login(coordinator)

    response = client.post("/konto/tvastegsverifiering/ta-bort/", {"device": device.pk}, follow=True)

    assert "Lägg till en ny app innan du tar bort den här." in response.content.decode()
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_a_clinic_user_removes_their_app_and_never_another_persons(client, small_world):
    mine, theirs = _app(small_world.biller), _app(small_world.coordinator)
    client.force_login(small_world.biller)

    assert client.post("/konto/tvastegsverifiering/ta-bort/", {"device": theirs.pk}).status_code == 404
    assert client.post("/konto/tvastegsverifiering/ta-bort/", {"device": mine.pk}).status_code == 302
    assert not TOTPDevice.objects.filter(pk=mine.pk).exists()
    assert TOTPDevice.objects.filter(pk=theirs.pk).exists()


def test_new_recovery_codes_replace_the_old(client, small_world):
    _app(small_world.biller)
    with transaction.atomic():
        old = two_factor.recovery_codes_renew(user=small_world.biller)
    client.force_login(small_world.biller)

    body = client.post("/konto/reservkoder/").content.decode()

    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", body)
    assert len(new) == 10 and not set(new) & set(old)
    assert "Du har 10 oanvända reservkoder." in client.get("/konto/").content.decode()


# Sessions ------------------------------------------------------------------------------------------------------


def test_a_session_ends_after_30_idle_minutes_and_a_request_renews_it(client, small_world):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    client.force_login(small_world.biller)
    session = client.session
    session[RENEWED_AT] = int(time.time()) - 25 * 60  # the last renewal was 25 minutes ago
    session.save()
    stored = Session.objects.get(session_key=session.session_key)
    Session.objects.filter(pk=stored.pk).update(expire_date=timezone.now() + datetime.timedelta(minutes=5))

    assert client.get("/konto/").status_code == 200

    renewed = Session.objects.get(session_key=session.session_key).expire_date
    assert renewed > timezone.now() + datetime.timedelta(minutes=29)
    Session.objects.filter(pk=stored.pk).update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
    assert client.get("/konto/")["Location"].startswith("/logga-in/")  # 30 minutes idle: over


def test_a_session_ends_8_hours_after_login_whatever_the_activity(client, small_world):
    client.force_login(small_world.biller)
    session = client.session
    session[LOGGED_IN_AT] = int(time.time()) - 8 * 3600 - 1
    session.save()

    response = client.get("/konto/")

    assert response.status_code == 302 and response["Location"].startswith("/logga-in/?next=")
    assert SESSION_KEY not in client.session
    assert "Du har varit inloggad i 8 timmar." in client.get(response["Location"]).content.decode()


def test_a_deactivated_users_sessions_end_at_once(client, small_world):
    client.force_login(small_world.biller)
    assert client.get("/konto/").status_code == 200

    User.objects.filter(pk=small_world.biller.pk).update(is_active=False)

    assert client.get("/konto/")["Location"].startswith("/logga-in/")
