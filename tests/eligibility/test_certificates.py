"""N and F certificates and free cards: validity at both ends, revocation kept with its reason, the region's rules."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinics.models import PatientCategory, SupportForm
from eligibility import services
from eligibility.models import Certificate, FreeCard, Patient
from portal.models import AuditEvent

from .factories import CertificateFactory, PatientFactory

START = datetime.date(2025, 3, 1)
END = datetime.date(2025, 8, 31)
REVOKED = datetime.date(2025, 6, 10)
DAY = datetime.timedelta(days=1)
# Skatteverket test numbers.
NEW_PIN = "200001042399"
OTHER_PIN = "200001052398"


def _certificate(small_world, **kwargs) -> Certificate:
    values = {
        "patient": PatientFactory(personal_identity_number=NEW_PIN),
        "region": small_world.region,
        "valid_from": START,
        "valid_to": END,
    }
    values.update(kwargs)
    return CertificateFactory(**values)


def _register(small_world, **kwargs) -> Certificate:
    values = {
        "actor": small_world.coordinator,
        "region": small_world.region,
        "personal_identity_number": NEW_PIN,
        "support_form": SupportForm.N,
        "number": "900001",
        "group": "N1",
        "valid_from": START,
        "valid_to": None,
    }
    values.update(kwargs)
    return services.certificate_register(**values)


def _refusal(call, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call(**kwargs)
    return caught.value


# Validity -----------------------------------------------------------------------------------------------

ENDED = {"valid_to": END}
TILLS_VIDARE = {"valid_to": None}
REVOKED_TILLS_VIDARE = {"valid_to": None, "revoked_from": REVOKED, "revocation_reason": "Flyttat."}


@pytest.mark.parametrize(
    ("fields", "day", "valid"),
    [
        (ENDED, START - DAY, False),
        (ENDED, START, True),
        (ENDED, END, True),
        (ENDED, END + DAY, False),
        (TILLS_VIDARE, START - DAY, False),
        (TILLS_VIDARE, START, True),
        (TILLS_VIDARE, datetime.date(2099, 12, 31), True),
        (REVOKED_TILLS_VIDARE, START, True),
        (REVOKED_TILLS_VIDARE, REVOKED - DAY, True),
        (REVOKED_TILLS_VIDARE, REVOKED, False),
        (REVOKED_TILLS_VIDARE, REVOKED + DAY, False),
        # Revoked before it ended: the revocation wins from its day on.
        ({"valid_to": END, "revoked_from": REVOKED, "revocation_reason": "Fel."}, END, False),
    ],
    ids=lambda value: value.isoformat() if isinstance(value, datetime.date) else None,
)
def test_certificate_validity_on_each_side_of_its_dates(small_world, fields, day, valid):
    certificate = _certificate(small_world, **fields)
    assert certificate.is_valid_on(day) is valid
    # The database query used in lists and imports gives the same answer as the model.
    assert Certificate.objects.valid_on(day).filter(pk=certificate.pk).exists() is valid


# Registering --------------------------------------------------------------------------------------------


def test_register_creates_the_patient_and_audits_both(small_world):
    assert not Patient.objects.filter(personal_identity_number=NEW_PIN).exists()
    certificate = _register(small_world, valid_to=END)
    assert certificate.patient.personal_identity_number == NEW_PIN
    assert certificate.registered_by == small_world.coordinator
    event = AuditEvent.objects.get(action="eligibility.certificate.registered", object_id=str(certificate.pk))
    assert event.actor == small_world.coordinator
    assert event.region_id == small_world.region.pk
    assert event.after["number"] == "900001"
    assert event.after["valid_from"] == START.isoformat() and event.after["valid_to"] == END.isoformat()
    assert AuditEvent.objects.filter(
        action="eligibility.patient.created", object_id=str(certificate.patient.pk)
    ).exists()


def test_register_until_further_notice_keeps_no_end(small_world):
    certificate = _register(small_world)
    certificate.refresh_from_db()
    assert certificate.valid_to is None
    assert certificate.is_valid_on(datetime.date(2099, 1, 1))


@pytest.mark.parametrize(
    ("support_form", "group"),
    [(SupportForm.N, "N9"), (SupportForm.N, "F1"), (SupportForm.F, "N1"), (SupportForm.F, "F9")],
)
def test_register_refuses_a_group_the_region_does_not_have(small_world, support_form, group):
    error = _refusal(_register, small_world=small_world, support_form=support_form, group=group)
    label = SupportForm(support_form).label
    assert error.message_dict["group"] == [
        f"Gruppen {group} finns inte för {label} i regionen. Välj en av: "
        + ", ".join(sorted(f"{support_form}{n}" for n in range(1, 5 if support_form == "N" else 9)))
        + "."
    ]
    assert not Certificate.objects.filter(number="900001").exists()
    assert not Patient.objects.filter(personal_identity_number=NEW_PIN).exists()


def test_register_refuses_s_because_s_has_no_certificate(small_world):
    error = _refusal(_register, small_world=small_world, support_form=SupportForm.S, group="S1")
    assert error.message_dict["support_form"] == ["Intyg utfärdas bara för N- och F-tandvård."]


def test_register_refuses_a_number_the_region_already_has(small_world):
    _certificate(small_world, patient=PatientFactory(personal_identity_number=OTHER_PIN), number="764153")
    error = _refusal(_register, small_world=small_world, number="764153")
    assert error.message_dict["number"] == ["Intygsnummer 764153 finns redan i regionen."]
    assert Certificate.objects.filter(region=small_world.region, number="764153").count() == 1


def test_the_same_number_may_exist_in_another_region(small_world):
    _certificate(small_world, patient=PatientFactory(personal_identity_number=OTHER_PIN), number="764153")
    certificate = _register(
        small_world,
        actor=small_world.other_region_coordinator,
        region=small_world.other_region,
        number="764153",
        group="N1",
    )
    assert certificate.region == small_world.other_region
    regions = [small_world.region, small_world.other_region]
    assert Certificate.objects.filter(number="764153", region__in=regions).count() == 2


def test_register_refuses_an_end_before_the_start_but_takes_a_single_day(small_world):
    error = _refusal(_register, small_world=small_world, valid_to=START - DAY)
    assert error.message_dict["valid_to"] == ["Slutdatum kan inte ligga före startdatum."]
    certificate = _register(small_world, valid_to=START)
    assert certificate.is_valid_on(START) and not certificate.is_valid_on(START + DAY)


def test_the_database_refuses_an_end_before_the_start_too(small_world):
    with pytest.raises(IntegrityError), transaction.atomic():
        _certificate(small_world, valid_from=END, valid_to=START)


# Ending and revoking ------------------------------------------------------------------------------------


def test_end_sets_the_last_day_and_audits_before_and_after(small_world):
    certificate = _register(small_world)
    services.certificate_end(actor=small_world.coordinator, certificate=certificate, valid_to=END)
    certificate.refresh_from_db()
    assert certificate.valid_to == END
    event = AuditEvent.objects.get(action="eligibility.certificate.ended")
    assert event.before == {"valid_to": None} and event.after == {"valid_to": END.isoformat()}
    error = _refusal(
        services.certificate_end, actor=small_world.coordinator, certificate=certificate, valid_to=START - DAY
    )
    assert error.message_dict["valid_to"] == ["Slutdatum kan inte ligga före startdatum."]


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_revoke_needs_a_reason(small_world, reason):
    certificate = _register(small_world)
    error = _refusal(
        services.certificate_revoke,
        actor=small_world.coordinator,
        certificate=certificate,
        revoked_from=REVOKED,
        reason=reason,
    )
    assert error.message_dict["reason"] == ["Ange skälet till att intyget återkallas."]
    certificate.refresh_from_db()
    assert certificate.revoked_from is None
    assert not AuditEvent.objects.filter(action="eligibility.certificate.revoked").exists()


def test_revoke_keeps_the_certificate_with_reason_and_who_and_audits_it(small_world):
    certificate = _register(small_world)
    services.certificate_revoke(
        actor=small_world.coordinator,
        certificate=certificate,
        revoked_from=REVOKED,
        reason="  Flyttat till annan region. ",
    )
    kept = Certificate.objects.get(pk=certificate.pk)  # still there: revoking never deletes
    assert kept.revoked_from == REVOKED
    assert kept.revocation_reason == "Flyttat till annan region."
    assert kept.revoked_by == small_world.coordinator
    assert kept.is_valid_on(REVOKED - DAY) and not kept.is_valid_on(REVOKED)
    event = AuditEvent.objects.get(action="eligibility.certificate.revoked", object_id=str(certificate.pk))
    assert event.actor == small_world.coordinator and event.region_id == small_world.region.pk
    assert event.before == {"revoked_from": None, "revocation_reason": ""}
    assert event.after == {"revoked_from": REVOKED.isoformat(), "revocation_reason": "Flyttat till annan region."}


def test_a_revoked_certificate_cannot_be_revoked_again(small_world):
    certificate = _register(small_world)
    services.certificate_revoke(
        actor=small_world.coordinator, certificate=certificate, revoked_from=REVOKED, reason="A"
    )
    error = _refusal(
        services.certificate_revoke,
        actor=small_world.coordinator,
        certificate=certificate,
        revoked_from=START,
        reason="B",
    )
    assert f"Intyget återkallades redan {REVOKED.isoformat()}" in error.messages[0]
    certificate.refresh_from_db()
    assert (certificate.revoked_from, certificate.revocation_reason) == (REVOKED, "A")


def test_the_database_refuses_a_revocation_without_reason(small_world):
    with pytest.raises(IntegrityError), transaction.atomic():
        _certificate(small_world, revoked_from=REVOKED, revocation_reason="")


# Free cards ---------------------------------------------------------------------------------------------

CARD_FROM = datetime.date(2026, 1, 1)
CARD_TO = datetime.date(2026, 6, 30)
OVERLAP_MESSAGE = "Patienten har redan ett frikort med ett annat nummer under den perioden."


def _card(small_world, *, number="FK100", valid_from=CARD_FROM, valid_to=CARD_TO, pin=NEW_PIN, clinic=None) -> FreeCard:
    return services.free_card_register(
        actor=small_world.biller,
        clinic=clinic or small_world.clinic,
        personal_identity_number=pin,
        number=number,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def test_free_card_register_stores_who_and_where_and_audits(small_world):
    card = _card(small_world)
    assert card.patient.personal_identity_number == NEW_PIN
    assert card.registered_by == small_world.biller and card.registered_at_clinic == small_world.clinic
    event = AuditEvent.objects.get(action="eligibility.free_card.registered")
    assert event.clinic_id == small_world.clinic.pk and event.region_id == small_world.region.pk
    assert event.after == {"number": "FK100", "valid_from": "2026-01-01", "valid_to": "2026-06-30"}


def test_the_same_card_registered_twice_is_found_not_duplicated(small_world):
    first = _card(small_world)
    again = _card(small_world, number=" FK100 ", clinic=small_world.other_clinic)
    assert again.pk == first.pk
    assert again.registered_at_clinic == small_world.clinic
    assert FreeCard.objects.filter(patient=first.patient).count() == 1
    assert AuditEvent.objects.filter(action="eligibility.free_card.registered").count() == 1


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [
        (CARD_FROM, CARD_TO),  # the same period
        (datetime.date(2026, 3, 1), datetime.date(2026, 3, 31)),  # inside
        (datetime.date(2025, 7, 1), CARD_FROM),  # ends on the first day
        (CARD_TO, datetime.date(2026, 12, 31)),  # starts on the last day
        (datetime.date(2025, 1, 1), datetime.date(2027, 12, 31)),  # around
    ],
    ids=["same", "inside", "ends-on-first-day", "starts-on-last-day", "around"],
)
def test_an_overlapping_card_with_another_number_is_refused_in_swedish(small_world, valid_from, valid_to):
    first = _card(small_world)
    error = _refusal(_card, small_world=small_world, number="FK200", valid_from=valid_from, valid_to=valid_to)
    assert error.message_dict == {"number": [OVERLAP_MESSAGE]}
    assert list(FreeCard.objects.filter(patient=first.patient)) == [first]
    assert not AuditEvent.objects.filter(action="eligibility.free_card.registered", after__number="FK200").exists()


def test_adjacent_cards_with_other_numbers_are_allowed(small_world):
    first = _card(small_world)
    after = _card(small_world, number="FK200", valid_from=CARD_TO + DAY, valid_to=datetime.date(2026, 12, 31))
    before = _card(small_world, number="FK050", valid_from=datetime.date(2025, 7, 1), valid_to=CARD_FROM - DAY)
    assert FreeCard.objects.filter(patient=first.patient).count() == 3
    assert {after.number, before.number} == {"FK200", "FK050"}


def test_another_patient_may_have_a_card_over_the_same_period(small_world):
    _card(small_world)
    other = _card(small_world, number="FK200", pin=OTHER_PIN)
    assert other.patient.personal_identity_number == OTHER_PIN


def test_the_overlap_rule_is_the_databases_own(small_world):
    """The GiST exclusion constraint refuses an overlap even when the service is bypassed."""
    first = _card(small_world)
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        FreeCard.objects.create(
            region=first.region,
            patient=first.patient,
            number="FK999",
            valid_from=CARD_TO,
            valid_to=CARD_TO,
            registered_by=small_world.biller,
        )
    assert "free_card_no_overlap_with_other_number" in str(caught.value)


def test_free_card_refuses_an_end_before_the_start(small_world):
    error = _refusal(_card, small_world=small_world, valid_from=CARD_TO, valid_to=CARD_FROM)
    assert error.message_dict["valid_to"] == ["Slutdatum kan inte ligga före startdatum."]
    assert not FreeCard.objects.filter(number="FK100").exists()


def test_register_refuses_any_group_where_the_region_lists_no_categories_for_the_form(small_world):
    PatientCategory.objects.filter(region=small_world.region, support_form=SupportForm.F).delete()
    error = _refusal(_register, small_world=small_world, support_form=SupportForm.F, group="F1")
    assert error.message_dict["group"] == [
        "Regionen har inga patientkategorier för F-tandvård: intyg kan registreras när regionens lista finns."
    ]
    assert _register(small_world, support_form=SupportForm.N, group="N1").group == "N1"
