"""The coordinator's pages of a run with a preview: Ny utbetalningskörning → preview → confirm, four eyes, the
recorded download and Makulera körning."""

import lxml.html
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from claims.models import Claim, ClaimState
from clinics.models import Region, RegionMembership, RegionRole
from clinics.rules import region_rules
from payouts.models import PayoutRun, PayoutRunState
from portal import validators
from portal.models import AuditEvent
from tests.clinics.factories import UserFactory

from .factories import claim, future_bank_day, invoice


def _url(name: str, **kwargs) -> str:
    return reverse(name, kwargs={"region_code": "vg", **kwargs})


def _preview(client, day):
    """Förhandsgranska: the preview is computed by its task once the request commits (eagerly, in the tests), on a
    page of its own."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        asked = client.post(_url("payout_run_new"), {"payout_date": day.isoformat()})
    assert asked.status_code == 302
    response = client.get(asked["Location"])
    assert response.status_code == 200
    return response.content.decode(), lxml.html.fromstring(response.content)


def _confirm(client, day, page, *, follow: bool = False):
    """Skapa utbetalningskörning: the run's task runs when the request commits (eagerly, in the tests)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            _url("payout_run_new"), {"payout_date": day.isoformat(), "fingerprint": _fingerprint(page)}
        )
    if follow and response.status_code == 302:
        return client.get(response["Location"])
    return response


def _fingerprint(page) -> str:
    (value,) = page.xpath("//input[@name='fingerprint']/@value")
    return value


def test_the_preview_shows_clinics_amounts_accounts_and_the_claims_left_out_with_why(client, world):
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    text, page = _preview(client, day)
    assert f"Förhandsgranskning: utbetalning {day.isoformat()}" in text
    assert page.xpath("//caption/text()")[:2] == ["Räkningar för klinik 31", "Kvittade kreditfakturor för klinik 31"]
    assert f"BG {validators.format_bankgiro(world.clinic31.account_number)}" in text
    assert "DEMO-A1" in text
    (left_out,) = page.xpath("//section[@aria-labelledby='left-out']//table")
    (row,) = [r for r in left_out.xpath(".//tbody/tr") if r.xpath("string(th)") == "DEMO-A2"]
    assert "Under granskning" in row.text_content()
    assert not PayoutRun.objects.filter(region=world.vg, payout_date=day).exists()


def test_a_changed_basis_is_refused_in_words_and_a_new_preview_is_one_click_away(client, world):
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    _text, page = _preview(client, day)
    extra = claim(invoice(world.clinic31), 4_200)  # came in while the coordinator read the preview
    refused = _confirm(client, day, page, follow=True)
    text = refused.content.decode()
    assert "Underlaget har ändrats sedan förhandsgranskningen" in text
    run = PayoutRun.objects.get(region=world.vg, payout_date=day)
    assert run.state == PayoutRunState.FAILED  # nothing written, the date free
    extra.refresh_from_db()
    assert (extra.state, extra.approved_on) == (ClaimState.RECEIVED, None)

    # "Ny förhandsgranskning" on the failed run's page asks for a new preview of the date, which has the new claim.
    (form,) = lxml.html.fromstring(refused.content).xpath("//form[.//button[text()='Ny förhandsgranskning']]")
    assert form.xpath(".//input[@name='payout_date']/@value") == [day.isoformat()]
    new_text, new_page = _preview(client, day)
    assert extra.reference in new_text
    confirmed = _confirm(client, day, new_page)
    made = PayoutRun.objects.get(region=world.vg, payout_date=day, state=PayoutRunState.PLANNED)
    assert confirmed["Location"] == _url("payout_run_detail", run_pk=made.pk)


def test_a_fingerprint_of_no_kept_preview_starts_no_run(client, world):
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    response = client.post(_url("payout_run_new"), {"payout_date": day.isoformat(), "fingerprint": "0" * 64})
    assert response.status_code == 200
    assert "Förhandsgranskningen finns inte längre. Ingen körning har skapats." in response.content.decode()
    assert not PayoutRun.objects.filter(region=world.vg, payout_date=day).exists()


def test_four_eyes_in_the_pages(client, world):
    Region.objects.filter(pk=world.vg.pk).update(payout_second_confirmation_above=100)
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    text, page = _preview(client, day)
    assert "en annan samordnare måste bekräfta körningen" in text
    response = _confirm(client, day, page, follow=True)
    run = PayoutRun.objects.get(region=world.vg, payout_date=day)
    assert run.state == PayoutRunState.AWAITING_SECOND
    detail = response.content.decode()
    assert "Väntar på bekräftelse av en andra samordnare" in detail
    assert "Ladda ner betalningsfil" not in detail

    same = client.post(_url("payout_run_confirm", run_pk=run.pk), follow=True).content.decode()
    assert "Du skapade körningen och kan inte också bekräfta den." in same
    refused = client.post(_url("payout_run_file", run_pk=run.pk), follow=True)
    assert "väntar på bekräftelse av en andra samordnare" in refused.content.decode()

    second = UserFactory(email="samordnare2.vg@demo.test")
    RegionMembership.objects.create(user=second, region=world.vg, role=RegionRole.COORDINATOR)
    client.force_login(second)
    confirmed = client.post(_url("payout_run_confirm", run_pk=run.pk), follow=True).content.decode()
    assert f"Utbetalningskörningen för {day.isoformat()} är bekräftad." in confirmed
    run.refresh_from_db()
    assert (run.state, run.confirmed_by) == (PayoutRunState.PLANNED, second)


def test_makulera_korning_asks_first_then_puts_the_claims_back_and_is_refused_after_download(client, world):
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    _text, page = _preview(client, day)
    _confirm(client, day, page)
    run = PayoutRun.objects.get(region=world.vg, payout_date=day)
    a1 = Claim.objects.get(clinic=world.clinic31, reference="DEMO-A1")
    assert a1.approved_on == day

    detail = client.get(_url("payout_run_detail", run_pk=run.pk)).content.decode()
    assert _url("payout_run_cancel", run_pk=run.pk) in detail
    asking = client.get(_url("payout_run_cancel", run_pk=run.pk)).content.decode()
    assert f"Makulera utbetalningskörningen {day.isoformat()}" in asking
    assert PayoutRun.objects.get(pk=run.pk).state == PayoutRunState.PLANNED  # asking changes nothing
    done = client.post(_url("payout_run_cancel", run_pk=run.pk), follow=True).content.decode()
    assert f"Utbetalningskörningen för {day.isoformat()} är makulerad." in done
    a1.refresh_from_db()
    assert (a1.state, a1.approved_on) == (ClaimState.RECEIVED, None)

    # A new run for the date; its file downloaded, it can no longer be cancelled.
    _text, page = _preview(client, day)
    _confirm(client, day, page)
    second = PayoutRun.objects.get(region=world.vg, payout_date=day, state=PayoutRunState.PLANNED)
    download = client.post(_url("payout_run_file", run_pk=second.pk))
    assert download["Content-Type"].startswith("application/xml")
    second.refresh_from_db()
    assert second.file_downloaded_by == world.coordinator_vg
    refused = client.post(_url("payout_run_cancel", run_pk=second.pk), follow=True).content.decode()
    assert "Körningen kan inte makuleras: betalningsfilen laddades ner" in refused
    assert client.get(_url("payout_run_file", run_pk=second.pk)).status_code == 405  # a download is a POST


# The region's four-eyes amount ------------------------------------------------------------------------------


def test_the_region_admin_sets_the_four_eyes_amount_and_it_is_audited(client, world):
    client.force_login(world.region_admin)
    url = _url("payout_second_confirmation")
    form = lxml.html.fromstring(client.get(url).content)
    assert form.xpath("//input[@name='amount']/@value") == ["500\u00a0000"]  # the default, as kronor

    response = client.post(url, {"amount": "250 000"})
    assert response.status_code == 302
    # A change of the region's rules from today (clinics.rules): the other rules stay as they are.
    assert region_rules(Region.objects.get(pk=world.vg.pk)).payout_second_confirmation_above == 25_000_000
    (event,) = AuditEvent.objects.filter(action="clinics.region.payout_limit_changed", region_id=world.vg.pk)
    today = timezone.localdate().isoformat()
    assert (event.actor, event.before, event.after) == (
        world.region_admin,
        {"payout_second_confirmation_above": 50_000_000, "valid_from": today},
        {"payout_second_confirmation_above": 25_000_000, "valid_from": today},
    )
    listing = client.get(_url("payout_run_list")).content.decode()
    assert "en körning med ett nettobelopp över 250\u00a0000\u00a0kr bekräftas av en andra samordnare" in listing


def test_a_wrong_amount_is_refused_in_words_and_keeps_what_was_typed(client, world):
    client.force_login(world.region_admin)
    response = client.post(_url("payout_second_confirmation"), {"amount": "femhundra"})
    text = response.content.decode()
    assert response.status_code == 200
    assert "Ange ett belopp i kronor, till exempel 980 eller 1250,50." in text
    assert 'value="femhundra"' in text
    assert region_rules(Region.objects.get(pk=world.vg.pk)).payout_second_confirmation_above == 50_000_000


def test_a_coordinator_sees_the_amount_but_may_not_change_it(client, world):
    client.force_login(world.coordinator_vg)
    listing = client.get(_url("payout_run_list")).content.decode()
    assert "500\u00a0000\u00a0kr bekräftas av en andra samordnare" in listing
    assert _url("payout_second_confirmation") not in listing
    assert client.post(_url("payout_second_confirmation"), {"amount": "1"}).status_code == 403
    assert region_rules(Region.objects.get(pk=world.vg.pk)).payout_second_confirmation_above == 50_000_000


def test_the_amount_set_decides_whether_a_run_waits_for_a_second_coordinator(client, world):
    client.force_login(world.region_admin)
    client.post(_url("payout_second_confirmation"), {"amount": "0"})
    client.force_login(world.coordinator_vg)
    day = future_bank_day()
    _text, page = _preview(client, day)
    _confirm(client, day, page)
    run = PayoutRun.objects.get(region=world.vg, payout_date=day)
    assert run.state == PayoutRunState.AWAITING_SECOND
