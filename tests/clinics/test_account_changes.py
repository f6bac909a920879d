"""A clinic's bankgiro or plusgiro changes only with four eyes: held, told, confirmed by a second person."""

import threading

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction

from clinics import services
from clinics.models import AccountChange, AccountChangeState, ClinicRole, PaymentMethod, RegionRole
from payouts import services as payout_services
from payouts.models import PayoutPayment
from portal.models import AuditEvent

from ..payouts.factories import claim, future_bank_day, invoice
from .factories import ClinicFactory, ClinicMembershipFactory, RegionMembershipFactory, UserFactory

NEW_BANKGIRO = "5559877"


@pytest.fixture
def two_admins(small_world):
    """`clinic` with admin A (small_world.admin) and admin B; a coordinator of the region."""
    second = ClinicMembershipFactory(clinic=small_world.clinic, role=ClinicRole.LOCAL_ADMIN, user__name="Bo B").user
    return small_world, second


def _request(world, **values):
    return services.account_change_request(
        actor=world.admin,
        clinic=world.clinic,
        payment_method=values.get("payment_method", PaymentMethod.BANKGIRO),
        account_number=values.get("account_number", "555-9877"),
    )


def test_a_request_holds_the_change_and_keeps_the_old_account(two_admins):
    world, _ = two_admins
    old = world.clinic.account_number
    change = _request(world)
    world.clinic.refresh_from_db()
    assert world.clinic.account_number == old
    assert (change.state, change.new_account_number, change.old_account_number) == ("pending", NEW_BANKGIRO, old)
    event = AuditEvent.objects.get(action="clinics.account_change.requested")
    assert event.before == {"payment_method": "bankgiro", "account_number": old}
    assert event.after == {"payment_method": "bankgiro", "account_number": NEW_BANKGIRO}
    assert (event.actor, event.clinic_id) == (world.admin, world.clinic.pk)


def test_the_requester_cannot_confirm_their_own_change(two_admins):
    world, _ = two_admins
    change = _request(world)
    with pytest.raises(ValidationError) as refused:
        services.account_change_confirm(actor=world.admin, change=change)
    assert refused.value.messages == [
        "Du kan inte bekräfta en ändring du själv har gjort. "
        "En annan lokal administratör på kliniken eller regionens samordnare bekräftar den."
    ]
    change.refresh_from_db()
    assert change.state == AccountChangeState.PENDING


def test_another_local_admin_confirms_and_the_account_changes(two_admins):
    world, second = two_admins
    change = services.account_change_confirm(actor=second, change=_request(world))
    world.clinic.refresh_from_db()
    assert (world.clinic.payment_method, world.clinic.account_number) == ("bankgiro", NEW_BANKGIRO)
    assert (change.state, change.decided_by) == ("confirmed", second)
    event = AuditEvent.objects.get(action="clinics.account_change.confirmed")
    assert event.after == {"payment_method": "bankgiro", "account_number": NEW_BANKGIRO} and event.actor == second


def test_a_coordinator_of_the_region_confirms(small_world):
    change = _request(small_world)
    services.account_change_confirm(actor=small_world.coordinator, change=change)
    small_world.clinic.refresh_from_db()
    assert small_world.clinic.account_number == NEW_BANKGIRO


@pytest.mark.parametrize("who", ["other_region_coordinator", "biller", "region_admin"])
def test_others_cannot_confirm_or_reject(small_world, who):
    change = _request(small_world)
    actor = getattr(small_world, who)
    for decide in (services.account_change_confirm, services.account_change_reject):
        with pytest.raises(ValidationError) as refused:
            decide(actor=actor, change=change)
        assert refused.value.messages == [
            "Bara klinikens lokala administratörer och regionens samordnare kan bekräfta eller avvisa ändringen."
        ]
    change.refresh_from_db()
    assert change.state == AccountChangeState.PENDING


def test_one_pending_change_at_a_time_and_no_change_to_the_same_account(small_world):
    _request(small_world)
    with pytest.raises(ValidationError) as second:
        _request(small_world, account_number="555-1239")
    assert second.value.message_dict == {
        "account_number": [
            "En ändring av kontot väntar redan på bekräftelse. Den måste bekräftas, avvisas eller dras tillbaka först."
        ]
    }
    other = ClinicFactory(region=small_world.region)
    with pytest.raises(ValidationError) as same:
        services.account_change_request(
            actor=small_world.admin,
            clinic=other,
            payment_method=other.payment_method,
            account_number=other.account_number,
        )
    assert same.value.message_dict == {"account_number": ["Kliniken har redan det kontot."]}
    with pytest.raises(ValidationError) as wrong:
        services.account_change_request(
            actor=small_world.admin, clinic=other, payment_method="bankgiro", account_number="555-9876"
        )
    assert wrong.value.message_dict == {"account_number": ["Bankgironumret har fel kontrollsiffra."]}


def test_reject_and_withdraw_keep_the_account_and_end_the_change(two_admins):
    world, second = two_admins
    old = world.clinic.account_number
    rejected = services.account_change_reject(actor=second, change=_request(world), reason="Fel nummer")
    assert (rejected.state, rejected.reason) == ("rejected", "Fel nummer")
    withdrawn = services.account_change_withdraw(actor=world.admin, change=_request(world))
    assert withdrawn.state == "withdrawn"
    world.clinic.refresh_from_db()
    assert world.clinic.account_number == old
    with pytest.raises(ValidationError) as late:
        services.account_change_confirm(actor=second, change=withdrawn)
    assert late.value.messages == ["Kontoändringen är redan återkallad."]
    actions = set(AuditEvent.objects.filter(clinic_id=world.clinic.pk).values_list("action", flat=True))
    assert {"clinics.account_change.rejected", "clinics.account_change.withdrawn"} <= actions


def test_only_a_local_admin_withdraws(small_world):
    change = _request(small_world)
    with pytest.raises(ValidationError) as refused:
        services.account_change_withdraw(actor=small_world.coordinator, change=change)
    assert refused.value.messages == ["Bara klinikens lokala administratörer kan dra tillbaka ändringen."]


def test_the_clinic_details_form_requests_instead_of_saving_the_account(two_admins):
    world, _ = two_admins
    old = world.clinic.account_number
    services.clinic_update_details(
        actor=world.admin, clinic=world.clinic, city="Borås", payment_method="bankgiro", account_number=NEW_BANKGIRO
    )
    world.clinic.refresh_from_db()
    assert (world.clinic.city, world.clinic.account_number) == ("Borås", old)
    assert AccountChange.objects.get(clinic=world.clinic).state == "pending"
    updated = AuditEvent.objects.get(action="clinics.clinic.updated")
    assert "account_number" not in updated.after


def test_the_notice_goes_to_the_other_admins_the_payout_address_and_the_coordinators(
    two_admins, mailoutbox, django_capture_on_commit_callbacks
):
    world, second = two_admins
    coordinators = [world.coordinator, RegionMembershipFactory(region=world.region).user]
    assert world.other_region_coordinator  # made, and not told
    RegionMembershipFactory(region=world.region, role=RegionRole.REGION_ADMIN)  # not told either
    ClinicMembershipFactory(clinic=world.clinic, role=ClinicRole.BILLER)  # a biller is not told
    with django_capture_on_commit_callbacks(execute=True):
        change = _request(world)
    told = sorted(address for message in mailoutbox for address in message.to)
    assert told == sorted([second.email, world.clinic.payout_email, *(c.email for c in coordinators)])
    assert world.admin.email not in told
    to_coordinator = next(m for m in mailoutbox if m.to == [world.coordinator.email])
    assert world.clinic.name in to_coordinator.subject and "väntar på bekräftelse" in to_coordinator.subject
    assert "BG 555-9877" in to_coordinator.body and world.clinic.account_display in to_coordinator.body
    assert (
        f"{settings.PORTAL_BASE_URL.rstrip('/')}/region/{world.region.code}/kliniker/{world.clinic.number}/"
        in to_coordinator.body
    )
    to_admin = next(m for m in mailoutbox if m.to == [second.email])
    assert f"/klinik/{world.clinic.pk}/klinikadministration/" in to_admin.body

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.account_change_confirm(actor=second, change=change)
    told = sorted(address for message in mailoutbox for address in message.to)
    assert world.admin.email in told and second.email not in told
    assert all("är bekräftat" in message.subject for message in mailoutbox)


def test_a_payout_run_pays_the_old_account_while_the_change_waits(small_world):
    old = small_world.clinic.account_number
    _request(small_world)
    claim(invoice(small_world.clinic), 10_000)
    run = payout_services.payout_run_create(
        actor=small_world.coordinator, region=small_world.region, payout_date=future_bank_day()
    ).run
    payment = PayoutPayment.objects.get(run=run, clinic=small_world.clinic)
    assert (payment.payment_method, payment.account_number) == ("bankgiro", old)


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_at_once_apply_the_change_once():
    clinic = ClinicFactory()
    requester, first, _unused = (
        ClinicMembershipFactory(clinic=clinic, role=ClinicRole.LOCAL_ADMIN).user for _ in range(3)
    )
    coordinator = RegionMembershipFactory(region=clinic.region).user
    change = services.account_change_request(
        actor=requester, clinic=clinic, payment_method="bankgiro", account_number=NEW_BANKGIRO
    )
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def confirm(name, actor):
        try:
            barrier.wait(timeout=10)
            services.account_change_confirm(actor=actor, change=change)
            outcomes[name] = "confirmed"
        except ValidationError as error:
            outcomes[name] = error.messages[0]
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=confirm, args=(name, actor)) for name, actor in (("a", first), ("b", coordinator))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["Kontoändringen är redan bekräftad.", "confirmed"]
    assert AuditEvent.objects.filter(action="clinics.account_change.confirmed").count() == 1
    clinic.refresh_from_db()
    assert clinic.account_number == NEW_BANKGIRO


def test_the_database_holds_one_pending_change_per_clinic(small_world):
    change = _request(small_world)
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountChange.objects.create(
            clinic=small_world.clinic,
            old_payment_method=change.old_payment_method,
            old_account_number=change.old_account_number,
            new_payment_method="bankgiro",
            new_account_number="5551239",
            requested_by=UserFactory(),
        )
