"""The pages people use: landing after login, Välj klinik, Klinikadministration."""

import pytest
from django.urls import reverse

from clinics.models import AccountChange, ClinicMembership, ClinicRole
from portal.models import AuditEvent
from tests.clinics.factories import ClinicMembershipFactory, RegionMembershipFactory
from tests.identity import log_in


def _login(client, email):
    return log_in(client, email)


@pytest.mark.parametrize(
    "email,landing",
    [
        ("dalarna@demo.test", "/klinik/{clinic2001}/"),
        ("admin31@demo.test", "/klinik/{clinic31}/"),
        ("fakturerare@demo.test", "/valj-klinik/"),
        ("samordnare.vg@demo.test", "/region/vg/"),
        ("samordnare.dalarna@demo.test", "/region/dalarna/"),
        ("regionadmin@demo.test", "/valj-klinik/"),
    ],
)
def test_after_login_each_user_lands_where_their_work_is(client, world, email, landing):
    response = _login(client, email)
    expected = landing.format(clinic2001=world.clinic2001.pk, clinic31=world.clinic31.pk)
    assert response.redirect_chain[-1][0] == expected
    assert response.status_code == 200


def test_login_with_wrong_password_keeps_the_email_and_says_so_in_swedish(client, world):
    response = client.post("/logga-in/", {"username": "fakturerare@demo.test", "password": "fel"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Fel e-postadress eller lösenord." in body
    assert 'value="fakturerare@demo.test"' in body


def test_choose_lists_both_clinics_of_the_two_clinic_biller(client, world):
    client.force_login(world.biller)
    body = client.get("/valj-klinik/").content.decode()
    assert "31 Folktandvården Demostaden" in body and "32 Tandläkarna i Demohamn" in body
    assert "2001" not in body


def test_logout_is_a_post_and_ends_the_session(client, world):
    client.force_login(world.biller)
    assert client.get("/logga-ut/").status_code == 405
    client.post("/logga-ut/")
    assert client.get(f"/klinik/{world.clinic31.pk}/").status_code == 302


def test_menu_uses_the_manuals_words_and_shows_klinikadministration_to_admins_only(client, world):
    client.force_login(world.biller)
    body = client.get(f"/klinik/{world.clinic31.pk}/").content.decode()
    for word in ("Registrera räkning", "Ladda upp fakturafil", "Era fakturor", "Support"):
        assert word in body
    assert f'href="/klinik/{world.clinic31.pk}/fakturafil/"' in body
    assert "Klinikadministration" not in body
    client.force_login(world.admin31)
    assert "Klinikadministration" in client.get(f"/klinik/{world.clinic31.pk}/").content.decode()


def test_details_with_a_wrong_bankgiro_are_refused_and_the_typed_values_kept(client, world):
    client.force_login(world.admin31)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/uppgifter/"
    data = {
        "street_address": "Nya gatan 5",
        "postal_code": "41102",
        "city": "Göteborg",
        "phone": "031-12 34 56",
        "email": "ny@klinik31.test",
        "payment_method": "bankgiro",
        "account_number": "555-1238",
        "payout_email": "ekonomi@klinik31.test",
    }
    response = client.post(url, data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Bankgironumret har fel kontrollsiffra." in body
    assert 'value="Nya gatan 5"' in body and 'value="555-1238"' in body
    world.clinic31.refresh_from_db()
    assert world.clinic31.street_address == "Tandgatan 1"

    response = client.post(url, {**data, "account_number": "555-1239"})
    assert response.status_code == 302
    world.clinic31.refresh_from_db()
    assert world.clinic31.street_address == "Nya gatan 5" and world.clinic31.account_number == "5551239"
    event = AuditEvent.objects.get(action="clinics.clinic.updated")
    assert event.before["street_address"] == "Tandgatan 1" and event.after["street_address"] == "Nya gatan 5"


def test_plusgiro_is_checked_as_plusgiro(client, world):
    client.force_login(world.admin31)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/uppgifter/"
    data = {"payment_method": "plusgiro", "account_number": "41 23 45-1", "payout_email": "e@k.test"}
    assert client.post(url, data).status_code == 302
    change = AccountChange.objects.get(clinic=world.clinic31, state="pending")
    assert (change.new_payment_method, change.new_account_number) == ("plusgiro", "4123451")
    assert change.new_display == "PG 41 23 45-1"
    world.clinic31.refresh_from_db()  # held until a second person confirms
    assert (world.clinic31.payment_method, world.clinic31.account_number) == ("bankgiro", "5551239")


def test_new_user_page_adds_a_biller_and_sends_the_invitation(
    client, world, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(world.admin31)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/ny/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"name": "Berit Biträde", "email": "berit@klinik31.test", "role": "biller"})
    assert response.status_code == 302
    assert ClinicMembership.objects.get(clinic=world.clinic31, user__email="berit@klinik31.test").role == "biller"
    assert [m.to for m in mailoutbox] == [["berit@klinik31.test"]]


def test_new_user_form_keeps_input_when_refused(client, world):
    client.force_login(world.admin31)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/ny/"
    response = client.post(url, {"name": "Utan Adress", "email": "inte-en-adress", "role": "biller"})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'value="Utan Adress"' in body and "error-summary" in body


def test_removing_the_last_admin_through_the_page_is_refused_with_the_reason(client, world):
    client.force_login(world.admin31)
    membership = world.membership(world.admin31, world.clinic31)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/{membership.pk}/ta-bort/"
    response = client.post(url)
    assert response.status_code == 200
    assert "minst en aktiv lokal administratör" in response.content.decode()
    membership.refresh_from_db()
    assert membership.is_active


def test_role_change_through_the_page(client, world):
    client.force_login(world.admin31)
    membership = world.membership(world.biller, world.clinic31)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/{membership.pk}/roll/"
    assert client.post(url, {"role": "local_admin"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == ClinicRole.LOCAL_ADMIN


def test_another_clinics_membership_is_404_even_for_an_admin(client, world):
    client.force_login(world.admin31)
    other = world.membership(world.biller, world.clinic32)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/{other.pk}/ta-bort/"
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    other.refresh_from_db()
    assert other.is_active


def test_forms_carry_csrf_protection(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin31)
    url = f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/ny/"
    response = client.post(url, {"name": "X", "email": "x@k.test", "role": "biller"})
    assert response.status_code == 403
    assert "Sidan har blivit för gammal" in response.content.decode()


def _has_byt_klinik(client, user) -> bool:
    client.force_login(user)
    response = client.get(reverse("account"))
    assert response.status_code == 200
    return "Byt klinik" in response.content.decode()


@pytest.mark.django_db
def test_byt_klinik_is_shown_only_to_a_person_with_somewhere_else_to_go(client):
    one_clinic = ClinicMembershipFactory().user
    coordinator = RegionMembershipFactory().user
    two_clinics = ClinicMembershipFactory().user
    ClinicMembershipFactory(user=two_clinics)
    assert not _has_byt_klinik(client, one_clinic)
    assert not _has_byt_klinik(client, coordinator)
    assert _has_byt_klinik(client, two_clinics)
