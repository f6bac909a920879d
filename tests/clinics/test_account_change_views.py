"""The pages of the money controls on the demo: clinic 32's change of account waits, the region confirms it; the
invitations page."""

from clinics.models import AccountChange, ClinicInvitation, ClinicMembership
from portal.models import AuditEvent

PENDING_TEXT = (
    "Ändringen till BG 555-9877 väntar på bekräftelse. "
    "Utbetalningar går till det gamla kontot (PG 41 23 45-1) tills dess."
)


def _change(world) -> AccountChange:
    return AccountChange.objects.get(clinic=world.clinic32, state="pending")


def test_the_demo_has_a_change_at_clinic_32_waiting_and_the_clinic_pages_say_so(client, world):
    change = _change(world)
    assert (change.requested_by.email, change.new_display, change.old_display) == (
        "admin32@demo.test",
        "BG 555-9877",
        "PG 41 23 45-1",
    )
    assert world.clinic32.account_display == "PG 41 23 45-1"
    client.force_login(world.user("admin32@demo.test"))
    admin_page = client.get(f"/klinik/{world.clinic32.pk}/klinikadministration/").content.decode()
    assert PENDING_TEXT in admin_page
    assert "Dra tillbaka ändringen" in admin_page and "Bekräfta ändringen" not in admin_page
    client.force_login(world.biller)
    assert PENDING_TEXT in client.get(f"/klinik/{world.clinic32.pk}/").content.decode()


def test_the_requester_is_refused_on_the_page_and_nothing_changes(client, world):
    change = _change(world)
    client.force_login(world.user("admin32@demo.test"))
    url = f"/klinik/{world.clinic32.pk}/klinikadministration/kontoandring/{change.pk}/bekrafta/"
    response = client.post(url, follow=True)
    assert "Du kan inte bekräfta en ändring du själv har gjort." in response.content.decode()
    change.refresh_from_db()
    assert change.state == "pending"


def test_the_coordinator_confirms_on_the_regions_clinic_page(client, world):
    change = _change(world)
    client.force_login(world.coordinator_vg)
    page = client.get("/region/vg/kliniker/32/").content.decode()
    assert PENDING_TEXT in page and "Bekräfta ändringen" in page
    assert "Ändring av konto begärd" in page and "admin32@demo.test" in page
    response = client.post(f"/region/vg/kontoandringar/{change.pk}/bekrafta/", follow=True)
    body = response.content.decode()
    assert "Ändringen är bekräftad: utbetalningar går nu till BG 555-9877." in body
    assert "Ändring av konto bekräftad" in body and "samordnare.vg@demo.test" in body
    assert body.count("PG 41 23 45-1 → BG 555-9877") == 2  # requested and confirmed, from the audit log
    world.clinic32.refresh_from_db()
    assert world.clinic32.account_display == "BG 555-9877"


def test_the_region_administrator_sees_the_change_without_the_buttons(client, world):
    client.force_login(world.region_admin)
    page = client.get("/region/vg/kliniker/32/").content.decode()
    assert PENDING_TEXT in page and "Bekräfta ändringen" not in page


def test_another_regions_coordinator_gets_404_and_nothing_changes(client, world):
    change = _change(world)
    client.force_login(world.coordinator_dalarna)
    assert client.get("/region/dalarna/kliniker/32/").status_code == 404
    assert client.post(f"/region/dalarna/kontoandringar/{change.pk}/bekrafta/").status_code == 404
    assert client.post(f"/region/dalarna/kontoandringar/{change.pk}/avvisa/").status_code == 404
    change.refresh_from_db()
    assert change.state == "pending"
    assert not AuditEvent.objects.filter(action="clinics.account_change.confirmed").exists()


def test_an_invited_account_accepts_on_the_invitations_page(client, world):
    client.force_login(world.admin31)
    response = client.post(
        f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/ny/",
        {"name": "Dagny", "email": "admin2001@demo.test", "role": "biller"},
        follow=True,
    )
    assert "har fått en inbjudan och blir klinikens användare först när hen tackar ja." in response.content.decode()
    invitee = world.user("admin2001@demo.test")
    assert not ClinicMembership.objects.filter(user=invitee, clinic=world.clinic31).exists()
    invitation = ClinicInvitation.objects.get(user=invitee, clinic=world.clinic31)

    client.force_login(world.biller)  # someone else's invitation: not theirs to answer
    client.post("/inbjudningar/", {"invitation": invitation.pk, "answer": "accept"})
    invitation.refresh_from_db()
    assert invitation.state == "pending"

    client.force_login(invitee)
    page = client.get("/inbjudningar/").content.decode()
    assert "31 Folktandvården Demostaden" in page and "Tacka ja" in page
    response = client.post("/inbjudningar/", {"invitation": invitation.pk, "answer": "accept"}, follow=True)
    assert "Du är nu användare på 31 Folktandvården Demostaden." in response.content.decode()
    assert ClinicMembership.objects.get(user=invitee, clinic=world.clinic31).role == "biller"


def test_a_coordinator_cannot_be_added_to_a_clinic_of_the_region_through_the_page(client, world):
    client.force_login(world.admin31)
    response = client.post(
        f"/klinik/{world.clinic31.pk}/klinikadministration/anvandare/ny/",
        {"name": "Sara", "email": "samordnare.vg@demo.test", "role": "local_admin"},
    )
    assert response.status_code == 200
    assert (
        "Personen har en roll i regionen och kan inte vara användare på en klinik i samma region."
        in response.content.decode()
    )
    assert not ClinicInvitation.objects.filter(user=world.coordinator_vg).exists()
