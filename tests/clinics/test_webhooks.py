"""Webhooks per API key (portal.webhooks): Standard Webhooks signatures a receiver can check on its own, retries
with a limit, an address that cannot reach inside, and the key's pages in Klinikadministration."""

import base64
import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from claims import services as claims_services
from clinics import services
from clinics.models import ApiKey
from portal import tasks, webhooks
from portal.events import clinic_event_record
from portal.models import AuditEvent, ClinicEvent, ClinicEventKind, WebhookAttempt, WebhookDelivery
from tests.billing.api.helpers import key_for
from tests.claims.factories import ClaimFactory
from tests.waiting import wait_until


class Receiver:
    """A journal system's webhook endpoint on 127.0.0.1: answers each POST with the next status given (200 after)."""

    def __init__(self):
        self.answers: list[int] = []
        self.requests: list[tuple[str, dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", f"{receiver.url}elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        # serve_forever looks for shutdown() between waits of poll_interval (0.5 s by default), and every test's
        # teardown waited that long for it: 0.02 s keeps the close at once for a negligible wake-up cost.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def _webhook_key(world, url, kinds=()):
    key, _secret = key_for(world.clinic)
    key, secret = services.api_key_webhook_set(actor=world.admin, key=key, url=url, kinds=list(kinds))
    return key, secret


def _delivery(world, key, kind=ClinicEventKind.CLAIM_VOIDED) -> WebhookDelivery:
    with transaction.atomic():
        event = clinic_event_record(clinic=world.clinic, kind=kind, obj=("claim", 41), data={"state": "voided"})
    return WebhookDelivery.objects.create(key=key, event=event)


def _verify(secret: str, headers: dict, body: bytes) -> bool:
    """An independent check, as the Standard Webhooks specification describes it."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(part.split(",", 1)[1], expected)
        for part in headers["webhook-signature"].split()
        if part.startswith("v1,")
    )


# Signing and delivering ------------------------------------------------------------------------------------


def test_a_delivery_is_signed_so_that_the_receiver_can_verify_it_on_its_own(small_world, receiver):
    key, secret = _webhook_key(small_world, receiver.url)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    delivery = _delivery(small_world, key)

    outcome = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)

    assert outcome.delivered
    [(_path, headers, body)] = receiver.requests
    assert headers["webhook-id"] == f"evt_{delivery.event_id}" and headers["webhook-timestamp"].isdigit()
    assert _verify(secret, headers, body)
    assert not _verify(secret, {**headers, "webhook-timestamp": "1"}, body)  # the time is signed too
    assert not _verify(webhooks.webhook_secret_new(), headers, body)
    sent = json.loads(body)
    assert (sent["id"], sent["kind"], sent["object"]["type"], sent["data"]) == (
        delivery.event_id,
        "claim.voided",
        "claim",
        {"state": "voided"},
    )
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)


def test_a_500_is_retried_with_growing_pauses_then_delivered_with_each_attempt_recorded(small_world, receiver):
    key, _secret = _webhook_key(small_world, receiver.url)
    delivery = _delivery(small_world, key)
    receiver.answers = [500, 503]

    pauses = []
    while (outcome := webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)).retry_in is not None:
        pauses.append(outcome.retry_in)

    assert outcome.delivered and pauses == list(webhooks.RETRY_PAUSES[:2])
    attempts = WebhookAttempt.objects.filter(delivery=delivery).order_by("attempted_at", "id")
    assert [a.status_code for a in attempts] == [500, 503, 200]
    assert len({r[1]["webhook-id"] for r in receiver.requests}) == 1  # the same id every time: dedupe by it


def test_the_task_retries_a_500_until_delivered(small_world, receiver):
    key, _secret = _webhook_key(small_world, receiver.url)
    delivery = _delivery(small_world, key)
    receiver.answers = [500]
    # Run in the test's process, as the eager tests run tasks: the retry runs at once instead of after its pause.
    tasks.webhook_deliver.apply(args=[delivery.pk], throw=False)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)


def test_an_address_that_never_answers_is_marked_failing_after_the_last_attempt_and_nothing_more_is_sent(
    small_world,
):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    key, _secret = _webhook_key(small_world, f"http://127.0.0.1:{port}/hook")
    delivery = _delivery(small_world, key)

    outcomes = [webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) for _ in range(webhooks.WEBHOOK_ATTEMPTS)]

    assert [o.retry_in is None for o in outcomes] == [False] * (webhooks.WEBHOOK_ATTEMPTS - 1) + [True]
    delivery.refresh_from_db()
    key.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", webhooks.WEBHOOK_ATTEMPTS)
    assert key.webhook_failing_since is not None
    assert {a.status_code for a in WebhookAttempt.objects.filter(key=key)} == {None}
    assert webhooks.webhook_keys_of({small_world.clinic.pk}) == []
    # A further attempt (the task run twice) sends nothing and records nothing.
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk).retry_in is None
    assert WebhookAttempt.objects.filter(key=key).count() == webhooks.WEBHOOK_ATTEMPTS


def test_saving_a_failing_webhook_again_sends_what_waits(small_world, receiver):
    key, _secret = _webhook_key(small_world, receiver.url)
    delivery = _delivery(small_world, key)
    ApiKey.objects.filter(pk=key.pk).update(webhook_failing_since="2026-12-01T00:00Z")
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk).retry_in is None  # not sent while failing
    assert receiver.requests == []
    services.api_key_webhook_set(actor=small_world.admin, key=key, url=receiver.url, kinds=[])
    tasks.webhook_resume.apply(args=[key.pk])
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and len(receiver.requests) == 1


def test_a_redirect_is_not_followed(small_world, receiver):
    key, _secret = _webhook_key(small_world, receiver.url)
    delivery = _delivery(small_world, key)
    receiver.answers = [302]
    outcome = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert not outcome.delivered and outcome.retry_in is not None
    assert [path for path, _headers, _body in receiver.requests] == ["/"]  # never /elsewhere
    assert WebhookAttempt.objects.get(delivery=delivery).status_code == 302


# The address ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.se/hook",  # not https
        "https://127.0.0.1/hook",  # loopback
        "https://10.1.2.3/hook",  # private
        "https://169.254.169.254/latest/meta-data",  # link-local (a cloud's metadata)
        "https://[::1]/hook",
        "https://user:pw@example.se/hook",
        "ftp://example.se/",
        "https://",
    ],
)
def test_in_production_an_address_into_a_private_network_or_without_https_is_refused(settings, url):
    settings.WEBHOOKS_ALLOW_LOCAL = False
    with pytest.raises(webhooks.ValidationError):
        webhooks.webhook_url_clean(url)


def test_a_name_that_resolves_to_a_private_address_is_refused_when_saved_and_when_sent(
    settings, small_world, receiver, monkeypatch
):
    key, _secret = _webhook_key(small_world, receiver.url)
    delivery = _delivery(small_world, key)
    settings.WEBHOOKS_ALLOW_LOCAL = False
    monkeypatch.setattr(
        webhooks.socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
    )
    with pytest.raises(webhooks.ValidationError):
        webhooks.webhook_url_clean("https://journal.example.se/hook")
    ApiKey.objects.filter(pk=key.pk).update(webhook_url="https://journal.example.se/hook")
    outcome = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert not outcome.delivered and receiver.requests == []
    assert "internt nät" in WebhookAttempt.objects.get(delivery=delivery).error


def test_a_public_https_address_is_accepted(settings, monkeypatch):
    settings.WEBHOOKS_ALLOW_LOCAL = False
    monkeypatch.setattr(
        webhooks.socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))],
    )
    assert webhooks.webhook_url_clean(" https://journal.example.se/hook ") == "https://journal.example.se/hook"


# Kinds and the whole way from a change -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_void_reaches_the_webhook_after_commit_and_only_the_chosen_kinds(transactional_small_world, receiver):
    world = transactional_small_world
    key, secret = _webhook_key(world, receiver.url, kinds=[ClinicEventKind.CLAIM_VOIDED])
    claim = ClaimFactory(invoice__clinic=world.clinic)
    other = ClaimFactory(invoice__clinic=world.clinic)
    claims_services.claim_start_review(actor=world.coordinator, claim=other)  # a kind the key did not choose
    claims_services.claim_void(actor=world.coordinator, claim=claim, reason="Fel.")

    def delivered() -> bool:
        tasks.webhooks_sweep()  # as the minute's beat job: for events a long transaction elsewhere held back
        return WebhookDelivery.objects.filter(key=key, state="delivered").exists()

    wait_until(delivered, timeout=60, what="the void delivered")
    [(_path, headers, body)] = receiver.requests
    assert _verify(secret, headers, body)
    sent = json.loads(body)
    assert (sent["kind"], sent["object"]["id"]) == ("claim.voided", claim.pk)
    assert WebhookDelivery.objects.filter(key=key).count() == 1
    assert ClinicEvent.objects.filter(clinic=world.clinic, kind=ClinicEventKind.CLAIM_STATE_CHANGED).exists()


def test_a_new_webhook_starts_after_the_clinics_last_event(transactional_small_world, receiver):
    # Committed, as in production: inside a test's transaction, PostgreSQL keeps the first pg_stat_activity it read
    # until the transaction ends, so a transaction of another test process begun since counted as still running
    # here, held the event back from where the webhook starts and let the next read deliver it (once in ~10 runs).
    world = transactional_small_world
    with transaction.atomic():
        clinic_event_record(clinic=world.clinic, kind=ClinicEventKind.CLAIM_VOIDED, obj=("claim", 1))
    key, _secret = _webhook_key(world, receiver.url)
    assert webhooks.webhook_deliveries_make(key_id=key.pk).delivery_ids == []


# The pages -----------------------------------------------------------------------------------------------------


def _url(name, world, key):
    return reverse(name, kwargs={"clinic_pk": world.clinic.pk, "key_pk": key.pk})


def test_the_local_administrator_sets_a_webhook_and_sees_its_secret_once(client, small_world, receiver):
    key, _ = key_for(small_world.clinic)
    client.force_login(small_world.admin)
    page = client.get(_url("clinic_api_key_webhook", small_world, key)).content.decode()
    assert "Webbadress" in page and "Händelser" in page

    response = client.post(
        _url("clinic_api_key_webhook", small_world, key),
        {"webhook_url": receiver.url, "kinds": [ClinicEventKind.CLAIM_VOIDED, ClinicEventKind.PAYOUT_MADE]},
    )
    key.refresh_from_db()
    secret = response.context["secret"]
    assert secret == key.webhook_secret and secret in response.content.decode()
    assert key.webhook_url == receiver.url
    assert key.webhook_kinds == sorted([ClinicEventKind.CLAIM_VOIDED, ClinicEventKind.PAYOUT_MADE])
    audit = AuditEvent.objects.get(action="clinics.api_key.webhook_set", object_id=str(key.pk))
    assert audit.after["webhook_url"] == receiver.url and secret not in json.dumps(audit.after)
    detail = client.get(_url("clinic_api_key", small_world, key)).content.decode()
    assert receiver.url in detail and secret not in detail and "Utbetalning gjord" in detail

    # Saved again: no new secret.
    again = client.post(_url("clinic_api_key_webhook", small_world, key), {"webhook_url": receiver.url})
    assert again.status_code == 302
    key.refresh_from_db()
    assert key.webhook_secret == secret and key.webhook_kinds == []


def test_a_refused_address_keeps_what_was_typed_and_says_why(client, small_world, settings):
    settings.WEBHOOKS_ALLOW_LOCAL = False
    key, _ = key_for(small_world.clinic)
    client.force_login(small_world.admin)
    response = client.post(_url("clinic_api_key_webhook", small_world, key), {"webhook_url": "http://journal.test/x"})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'value="http://journal.test/x"' in body and "måste börja med https://" in body
    key.refresh_from_db()
    assert key.webhook_url == "" and not AuditEvent.objects.filter(action="clinics.api_key.webhook_set").exists()


def test_the_secret_is_rotated_and_shown_once_and_the_webhook_removed(client, small_world, receiver):
    key, first = _webhook_key(small_world, receiver.url)
    client.force_login(small_world.admin)
    assert client.get(_url("clinic_api_key_webhook_secret", small_world, key)).status_code == 200
    response = client.post(_url("clinic_api_key_webhook_secret", small_world, key))
    key.refresh_from_db()
    assert response.context["secret"] == key.webhook_secret != first
    assert AuditEvent.objects.filter(action="clinics.api_key.webhook_secret_rotated", object_id=str(key.pk)).exists()

    client.post(_url("clinic_api_key_webhook_remove", small_world, key))
    key.refresh_from_db()
    assert (key.webhook_url, key.webhook_secret) == ("", "")
    assert AuditEvent.objects.filter(action="clinics.api_key.webhook_removed", object_id=str(key.pk)).exists()


def test_the_key_page_shows_the_attempts(client, small_world, receiver):
    key, _secret = _webhook_key(small_world, receiver.url)
    delivery = _delivery(small_world, key)
    receiver.answers = [500]
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    client.force_login(small_world.admin)
    page = client.get(_url("clinic_api_key", small_world, key)).content.decode()
    assert "500" in page and f"evt_{delivery.event_id}" in page and "Räkning makulerad" in page


def test_the_webhook_form_refuses_a_post_without_the_csrf_token(small_world, receiver):
    key, _ = key_for(small_world.clinic)
    client = Client(enforce_csrf_checks=True)
    client.force_login(small_world.admin)
    response = client.post(_url("clinic_api_key_webhook", small_world, key), {"webhook_url": receiver.url})
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.webhook_url == ""


@pytest.mark.parametrize(
    "name",
    ["clinic_api_key", "clinic_api_key_webhook", "clinic_api_key_webhook_secret", "clinic_api_key_webhook_remove"],
)
def test_another_clinics_key_is_a_404(client, small_world, name):
    foreign, _ = key_for(small_world.other_clinic)
    client.force_login(small_world.admin)
    assert client.get(_url(name, small_world, foreign)).status_code == 404
    if name != "clinic_api_key":  # the key's page is read only
        answer = client.post(_url(name, small_world, foreign), {"webhook_url": "https://example.se/"})
        assert answer.status_code == 404
    foreign.refresh_from_db()
    assert foreign.webhook_url == ""


def test_a_biller_may_not_manage_webhooks(client, small_world):
    key, _ = key_for(small_world.clinic)
    client.force_login(small_world.biller)
    assert client.get(_url("clinic_api_key_webhook", small_world, key)).status_code == 403


def test_a_revoked_key_gets_no_webhook(small_world, receiver):
    key, _ = key_for(small_world.clinic)
    services.api_key_revoke(actor=small_world.admin, key=key)
    with pytest.raises(webhooks.ValidationError):
        services.api_key_webhook_set(actor=small_world.admin, key=key, url=receiver.url, kinds=[])
