"""Uppsägning (issue 15, point 7): the notice, its state table, the daily job that closes the clinic, and what stays.

A clinic under notice works as before until its end date; care after it is refused; care up to it may be billed until
the region's slutfakturering ends (Region.final_billing_days, fixed on the notice); the day after, the job closes the
clinic: users and API keys lose access, the data stays for the region and a payout run still pays it.
"""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from claims.models import ClaimState
from claims.validation import claim_validate
from clinics import services
from clinics.models import (
    TERMINATION_TRANSITIONS,
    ApiKey,
    ClinicMembership,
    ClinicRole,
    Termination,
    TerminationState,
    User,
)
from clinics.tasks import close_terminated_clinics
from payouts import services as payout_services
from payouts.models import PayoutPayment
from portal.models import AuditEvent
from tests.claims.factories import ClaimFactory
from tests.claims.test_validation import VISIT, n_draft
from tests.payouts.factories import claim, future_bank_day, invoice, payout_world

from .factories import ClinicMembershipFactory

DAY = datetime.timedelta(days=1)
TODAY = timezone.localdate()


def test_the_state_table():
    assert dict(TERMINATION_TRANSITIONS) == {
        "given": frozenset({"withdrawn", "closed"}),
        "withdrawn": frozenset(),
        "closed": frozenset(),
    }


def test_the_local_administrator_gives_notice_with_an_end_date(small_world):
    world = small_world
    world.region.final_billing_days = 30
    world.region.save()
    termination = services.termination_give(
        actor=world.admin, clinic=world.clinic, ends_on=TODAY + 10 * DAY, reason="Vi går över till annan region"
    )
    world.clinic.refresh_from_db()
    assert world.clinic.ends_on == TODAY + 10 * DAY
    assert world.clinic.is_active
    assert (termination.state, termination.last_billing_on) == ("given", TODAY + 40 * DAY)
    assert termination.closes_on == TODAY + 41 * DAY
    assert (termination.given_by, termination.by_region) == (world.admin, False)
    event = AuditEvent.objects.get(action="clinics.termination.given", object_id=str(termination.pk))
    assert event.after["reason"] == "Vi går över till annan region"


def test_the_avtalsansvarig_and_the_region_may_give_notice_a_biller_and_another_region_may_not(small_world):
    world = small_world
    owner = ClinicMembershipFactory(clinic=world.clinic, role=ClinicRole.AGREEMENT_OWNER).user
    other = world.other_region_coordinator
    for actor in (world.biller, other):
        with pytest.raises(ValidationError) as refused:
            services.termination_give(actor=actor, clinic=world.clinic, ends_on=TODAY)
        assert refused.value.code == "not_allowed"
    given = services.termination_give(actor=owner, clinic=world.clinic, ends_on=TODAY)
    services.termination_withdraw(actor=owner, termination=given)
    by_region = services.termination_give(actor=world.coordinator, clinic=world.clinic, ends_on=TODAY + DAY)
    assert by_region.by_region


def test_an_end_date_in_the_past_and_a_second_notice_are_refused(small_world):
    world = small_world
    with pytest.raises(ValidationError, match="före i dag"):
        services.termination_give(actor=world.admin, clinic=world.clinic, ends_on=TODAY - DAY)
    services.termination_give(actor=world.admin, clinic=world.clinic, ends_on=TODAY + DAY)
    with pytest.raises(ValidationError, match="redan uppsagd"):
        services.termination_give(actor=world.admin, clinic=world.clinic, ends_on=TODAY + 5 * DAY)
    assert Termination.objects.filter(clinic=world.clinic).count() == 1


def test_a_notice_is_withdrawn_until_the_end_date_and_not_after(small_world):
    world = small_world
    termination = services.termination_give(actor=world.admin, clinic=world.clinic, ends_on=TODAY + 3 * DAY)
    with pytest.raises(ValidationError, match="har passerat"):
        services.termination_withdraw(actor=world.admin, termination=termination, today=TODAY + 4 * DAY)
    services.termination_withdraw(actor=world.admin, termination=termination, today=TODAY + 3 * DAY)
    termination.refresh_from_db()
    world.clinic.refresh_from_db()
    assert (termination.state, termination.withdrawn_by) == ("withdrawn", world.admin)
    assert world.clinic.ends_on is None
    with pytest.raises(ValidationError, match="redan återkallad") as again:
        services.termination_withdraw(actor=world.admin, termination=termination)
    assert again.value.code == "state"
    assert AuditEvent.objects.filter(action="clinics.termination.withdrawn").count() == 1


# Claims: care after the end date is refused, and nothing is sent after the slutfakturering -----------------------


def _terminated(world, *, ends_on, last_billing_on):
    termination = Termination.objects.create(
        clinic=world.clinic, ends_on=ends_on, last_billing_on=last_billing_on, given_by=world.admin
    )
    world.clinic.ends_on = ends_on
    world.clinic.save(update_fields=["ends_on"])
    return termination


def test_care_after_the_end_date_is_refused_with_the_date_and_care_before_it_passes(small_world):
    world = small_world
    world.tariff(VISIT)
    _terminated(world, ends_on=VISIT - DAY, last_billing_on=TODAY + 30 * DAY)
    faults = {f.code: f for f in claim_validate(clinic=world.clinic, draft=n_draft())}
    assert "visit_after_end" in faults
    assert f"slutdatumet är {(VISIT - DAY).isoformat()}" in faults["visit_after_end"].message
    world.clinic.ends_on = VISIT
    Termination.objects.filter(clinic=world.clinic).update(ends_on=VISIT)
    codes = {f.code for f in claim_validate(clinic=world.clinic, draft=n_draft())}
    assert not codes & {"visit_after_end", "clinic_terminated"}


def test_after_the_last_billing_day_no_claim_is_taken(small_world):
    world = small_world
    world.tariff(VISIT)
    _terminated(world, ends_on=VISIT, last_billing_on=TODAY - DAY)
    faults = {f.code: f for f in claim_validate(clinic=world.clinic, draft=n_draft())}
    assert (TODAY - DAY).isoformat() in faults["clinic_terminated"].message
    assert "visit_after_end" not in faults


# Closing: the daily job ----------------------------------------------------------------------------------------------


def test_the_job_closes_the_clinic_the_day_after_the_slutfakturering_and_only_then(small_world):
    world = small_world
    admin, biller = world.admin, world.biller  # the biller also bills world.other_clinic
    alone = ClinicMembershipFactory(clinic=world.clinic, role=ClinicRole.BILLER).user
    key, secret = services.api_key_create(actor=admin, clinic=world.clinic, name="Journal")
    termination = _terminated(world, ends_on=TODAY - 5 * DAY, last_billing_on=TODAY)

    assert services.terminations_close_due(today=TODAY) == []
    world.clinic.refresh_from_db()
    assert world.clinic.is_active

    assert services.terminations_close_due(today=TODAY + DAY) == [world.clinic.pk]
    world.clinic.refresh_from_db()
    termination.refresh_from_db()
    assert not world.clinic.is_active
    assert termination.state == TerminationState.CLOSED and termination.closed_at is not None
    assert not ClinicMembership.objects.filter(clinic=world.clinic, is_active=True).exists()
    assert services.api_key_authenticate(secret) is None
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    # Sessions end for those left without access; the biller still has another clinic.
    assert User.objects.get(pk=alone.pk).session_generation == 1
    assert User.objects.get(pk=admin.pk).session_generation == 1
    assert User.objects.get(pk=biller.pk).session_generation == 0
    event = AuditEvent.objects.get(action="clinics.clinic.closed")
    assert event.after["api_keys_revoked"] == [key.pk]
    # Idempotent: a second run closes nothing and records nothing.
    assert services.terminations_close_due(today=TODAY + 2 * DAY) == []
    assert AuditEvent.objects.filter(action="clinics.clinic.closed").count() == 1


def test_the_job_catches_up_days_it_missed_and_leaves_withdrawn_notices(small_world):
    world = small_world
    late = _terminated(world, ends_on=TODAY - 100 * DAY, last_billing_on=TODAY - 60 * DAY)
    withdrawn = Termination.objects.create(
        clinic=world.other_clinic,
        ends_on=TODAY - 100 * DAY,
        last_billing_on=TODAY - 60 * DAY,
        given_by=world.admin,
        state=TerminationState.WITHDRAWN,
    )
    assert close_terminated_clinics.apply().get() == [late.clinic_id]
    withdrawn.refresh_from_db()
    world.other_clinic.refresh_from_db()
    assert withdrawn.state == "withdrawn" and world.other_clinic.is_active


def test_the_job_is_on_the_beat_schedule():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "clinics.tasks.close_terminated_clinics" in tasks


def test_a_closed_clinics_users_reach_none_of_its_pages(client, small_world):
    world = small_world
    _terminated(world, ends_on=TODAY - 10 * DAY, last_billing_on=TODAY - DAY)
    client.force_login(world.admin)
    start = reverse("clinic_start", kwargs={"clinic_pk": world.clinic.pk})
    assert client.get(start).status_code == 200
    services.terminations_close_due()
    client.force_login(User.objects.get(pk=world.admin.pk))
    assert client.get(start).status_code == 404


# What stays: the region sees the data, and a payout run still pays the clinic ------------------------------------


def test_a_payout_run_pays_a_closed_clinics_approved_claims(db):
    pw = payout_world()
    approved = claim(invoice(pw.bankgiro), 120_000, state=ClaimState.APPROVED)
    admin = ClinicMembershipFactory(clinic=pw.bankgiro, role=ClinicRole.LOCAL_ADMIN).user
    Termination.objects.create(
        clinic=pw.bankgiro, ends_on=TODAY - 40 * DAY, last_billing_on=TODAY - DAY, given_by=admin
    )
    services.terminations_close_due()
    pw.bankgiro.refresh_from_db()
    assert not pw.bankgiro.is_active
    result = payout_services.payout_run_create(actor=pw.coordinator, region=pw.region, payout_date=future_bank_day())
    payment = PayoutPayment.objects.get(run=result.run, clinic=pw.bankgiro)
    assert payment.net == 120_000
    assert payment.account_number == pw.bankgiro.account_number
    approved.refresh_from_db()
    assert approved.approved_on == result.run.payout_date


def test_the_region_still_sees_a_closed_clinic_and_its_claims(client, small_world):
    world = small_world
    made = ClaimFactory(invoice__clinic=world.clinic, invoice__created_by=world.biller)
    _terminated(world, ends_on=TODAY - 10 * DAY, last_billing_on=TODAY - DAY)
    services.terminations_close_due()
    client.force_login(world.coordinator)
    code = world.region.code
    for url in (
        reverse("region_clinic_detail", kwargs={"region_code": code, "clinic_number": world.clinic.number}),
        reverse("region_clinic_termination", kwargs={"region_code": code, "clinic_number": world.clinic.number}),
        reverse("review_claim_detail", kwargs={"region_code": code, "claim_pk": made.pk}),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(
        reverse("region_clinic_termination", kwargs={"region_code": code, "clinic_number": world.clinic.number})
    )
    assert "Kliniken är stängd" in page.content.decode()


# The last local administrator ------------------------------------------------------------------------------------


def test_the_last_local_administrator_cannot_leave_a_running_clinic_without_a_successor(small_world):
    world = small_world
    membership = ClinicMembership.objects.get(user=world.admin, clinic=world.clinic)
    with pytest.raises(ValidationError, match="Utse en efterträdare innan du lämnar") as refused:
        services.membership_leave(actor=world.admin, membership=membership)
    assert refused.value.code == "last_local_admin"
    successor = ClinicMembershipFactory(clinic=world.clinic, role=ClinicRole.LOCAL_ADMIN)
    services.membership_leave(actor=world.admin, membership=membership)
    membership.refresh_from_db()
    assert not membership.is_active
    assert AuditEvent.objects.filter(action="clinics.membership.left").count() == 1
    # The successor, the last one now, cannot leave either.
    with pytest.raises(ValidationError):
        services.membership_leave(actor=successor.user, membership=successor)


def test_a_person_leaves_only_their_own_membership(small_world):
    world = small_world
    membership = ClinicMembership.objects.get(user=world.biller, clinic=world.clinic)
    with pytest.raises(ValidationError) as refused:
        services.membership_leave(actor=world.admin, membership=membership)
    assert refused.value.code == "not_yours"
    services.membership_leave(actor=world.biller, membership=membership)
    membership.refresh_from_db()
    assert not membership.is_active


def test_the_leave_page_refuses_the_last_administrator_and_lets_a_biller_go(client, small_world):
    world = small_world
    url = reverse("clinic_leave", kwargs={"clinic_pk": world.clinic.pk})
    client.force_login(world.admin)
    response = client.post(url)
    assert response.status_code == 200
    assert "Utse en efterträdare innan du lämnar" in response.content.decode()
    assert ClinicMembership.objects.get(user=world.admin, clinic=world.clinic).is_active
    client.force_login(world.biller)
    response = client.post(url)
    assert response.status_code == 302
    assert not ClinicMembership.objects.get(user=world.biller, clinic=world.clinic).is_active


# The pages ---------------------------------------------------------------------------------------------------------


def test_the_clinic_gives_notice_on_its_page_and_every_page_shows_the_banner(client, small_world):
    world = small_world
    client.force_login(world.admin)
    url = reverse("clinic_termination", kwargs={"clinic_pk": world.clinic.pk})
    ends = TODAY + 20 * DAY
    response = client.post(url, {"ends_on": ends.isoformat(), "reason": "Flyttar"})
    assert response.status_code == 302
    for page in ("clinic_start", "clinic_administration", "invoice_list"):
        text = client.get(reverse(page, kwargs={"clinic_pk": world.clinic.pk})).content.decode()
        assert f"Kliniken är uppsagd med slutdatum {ends.isoformat()}" in text, page
    client.force_login(world.biller)
    text = client.get(reverse("clinic_start", kwargs={"clinic_pk": world.clinic.pk})).content.decode()
    assert "Kliniken är uppsagd med slutdatum" in text
    assert client.get(url).status_code == 403
    client.force_login(world.admin)
    assert client.post(reverse("clinic_termination_withdraw", kwargs={"clinic_pk": world.clinic.pk})).status_code == 302
    text = client.get(reverse("clinic_start", kwargs={"clinic_pk": world.clinic.pk})).content.decode()
    assert "Kliniken är uppsagd" not in text


def test_a_rejected_notice_keeps_what_was_typed(client, small_world):
    world = small_world
    client.force_login(world.admin)
    url = reverse("clinic_termination", kwargs={"clinic_pk": world.clinic.pk})
    response = client.post(url, {"ends_on": (TODAY - DAY).isoformat(), "reason": "Flyttar till Norge"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "före i dag" in text and "Flyttar till Norge" in text
    assert not Termination.objects.exists()


def test_the_agreement_owner_opens_the_termination_page(client, small_world):
    world = small_world
    owner = ClinicMembershipFactory(clinic=world.clinic, role=ClinicRole.AGREEMENT_OWNER).user
    client.force_login(owner)
    assert client.get(reverse("clinic_termination", kwargs={"clinic_pk": world.clinic.pk})).status_code == 200


def test_the_region_gives_and_withdraws_notice(client, small_world):
    world = small_world
    client.force_login(world.coordinator)
    kwargs = {"region_code": world.region.code, "clinic_number": world.clinic.number}
    response = client.post(reverse("region_clinic_termination", kwargs=kwargs), {"ends_on": TODAY.isoformat()})
    assert response.status_code == 302
    termination = Termination.objects.get(clinic=world.clinic)
    assert termination.by_region and termination.given_by == world.coordinator
    client.post(reverse("region_clinic_termination_withdraw", kwargs=kwargs))
    termination.refresh_from_db()
    assert termination.state == "withdrawn"
