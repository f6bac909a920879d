"""The region's rules as data from a date (issue 15, point 3): versions read through clinics.rules.region_rules,
changed by the region administrator, audited, and followed by claims according to their visit date."""

import datetime

import lxml.html
import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from claims.validation import billing_deadline_text, last_billing_day
from clinics import region_services
from clinics.models import CareModel, DeadlineBasis, PatientCategory, Region, RegionRules, SupportForm
from clinics.rules import region_rules
from eligibility.selectors import fee_exemption_reasons
from portal.models import AuditEvent
from tests.eligibility.factories import CertificateFactory
from tests.portal.orm_read import assert_read_as_the_orm

TODAY = timezone.localdate()
D = datetime.date
BORN_1940 = "194001019802"  # never used as a person here: only its age counts


def _rules(region: Region, **changes) -> dict:
    return region_rules(Region.objects.get(pk=region.pk)).values() | changes


def _set(world, valid_from, **changes):
    return region_services.region_rules_set(
        actor=world.region_admin, region=world.region, valid_from=valid_from, **_rules(world.region, **changes)
    )


def _fresh(region: Region) -> Region:
    return Region.objects.get(pk=region.pk)


# The one function -------------------------------------------------------------------------------------------------


def test_without_versions_the_regions_own_fields_are_the_rules(small_world):
    rules = region_rules(small_world.region)
    assert rules.valid_from is None
    assert rules.billing_deadline_months == small_world.region.billing_deadline_months == 6
    assert rules.repayment_bankgiro == small_world.region.repayment_bankgiro


def test_a_change_takes_effect_from_its_date_and_the_days_before_keep_the_old_rules(small_world):
    change_day = TODAY + datetime.timedelta(days=10)
    version = _set(
        small_world,
        change_day,
        billing_deadline_months=3,
        billing_deadline_basis=DeadlineBasis.END_OF_TREATMENT_MONTH,
    )
    assert version.valid_from == change_day
    region = _fresh(small_world.region)
    before = change_day - datetime.timedelta(days=1)
    # Care the day before the change: six months from the day; care on the day: three after the month.
    assert region_rules(region, before).billing_deadline_months == 6
    assert last_billing_day(region=region, visit_date=before) == before + _months(6)
    expected = (change_day.replace(day=1) + _months(4)) - datetime.timedelta(days=1)
    assert last_billing_day(region=region, visit_date=change_day) == expected
    assert "behandlingsmånaden" in billing_deadline_text(region, change_day)
    assert "behandlingsdagen" in billing_deadline_text(region, before)
    # Today's rules are still the old ones.
    assert region_rules(region).billing_deadline_months == 6


def test_the_versions_are_read_once_per_region_object_as_the_orm_reads_them(small_world, django_assert_num_queries):
    first = _set(small_world, TODAY + datetime.timedelta(days=10), fee_exempt_certificate_groups=["N", "F"])
    second = _set(small_world, TODAY + datetime.timedelta(days=20), free_amount_support_forms=["S"])
    region = _fresh(small_world.region)
    with django_assert_num_queries(1):
        assert region_rules(region, first.valid_from).fee_exempt_certificate_groups == ("F", "N")
        assert region_rules(region, second.valid_from).free_amount_support_forms == ("S",)
        assert region_rules(region).valid_from is None
    read = region.__dict__["_rule_versions"]
    orm = RegionRules.objects.filter(region=region).order_by("valid_from")
    assert len(read) == 2
    for got, expected in zip(read, orm, strict=True):
        assert_read_as_the_orm(got, expected)
    assert region_rules(_fresh(small_world.other_region)).valid_from is None


def _months(n: int) -> relativedelta:
    return relativedelta(months=n)


def test_fee_exemptions_follow_the_rules_of_the_visit_date(small_world):
    # A version made in the past (as if changed then): from it, no fee from 80 years and with an N2 certificate.
    changed = D(2020, 1, 1)
    RegionRules.objects.create(
        region=small_world.region,
        valid_from=changed,
        created_by=small_world.region_admin,
        **_rules(small_world.region, fee_exempt_from_age=80, fee_exempt_certificate_groups=["N2"]),
    )
    region = _fresh(small_world.region)

    def reasons(day):
        return fee_exemption_reasons(
            region=region, personal_identity_number=BORN_1940, on_date=day, free_card=None, certificate_groups={"N2"}
        )

    assert reasons(D(2019, 12, 31)) == []
    assert reasons(changed) == ["80 år eller äldre", "Intyg N2"]


def test_rules_cannot_change_backwards_in_time(small_world):
    with pytest.raises(ValidationError) as raised:
        _set(small_world, TODAY - datetime.timedelta(days=1), billing_deadline_months=3)
    assert "bakåt i tiden" in raised.value.message_dict["valid_from"][0]
    assert not RegionRules.objects.filter(region=small_world.region).exists()


def test_a_change_is_audited_with_what_changed_and_from_when(small_world):
    day = TODAY + datetime.timedelta(days=3)
    version = _set(small_world, day, repayment_bankgiro="5551239", payout_second_confirmation_above=100_00)
    (event,) = AuditEvent.objects.filter(action="clinics.region.rules_changed", region_id=small_world.region.pk)
    assert event.actor == small_world.region_admin
    assert event.object_id == str(version.pk)
    assert event.after == {
        "repayment_bankgiro": "5551239",
        "payout_second_confirmation_above": 10_000,
        "valid_from": day.isoformat(),
    }
    assert event.before["payout_second_confirmation_above"] == 50_000_000


def test_the_same_rules_again_change_nothing_and_a_second_change_that_day_replaces_the_first(small_world):
    day = TODAY + datetime.timedelta(days=3)
    assert _set(small_world, day) is None
    first = _set(small_world, day, billing_deadline_months=4)
    second = _set(small_world, day, billing_deadline_months=5)
    assert first.pk == second.pk
    assert RegionRules.objects.get(pk=first.pk).billing_deadline_months == 5
    assert AuditEvent.objects.filter(action="clinics.region.rules_changed").count() == 2


def test_every_rule_is_checked(small_world):
    with pytest.raises(ValidationError) as raised:
        _set(
            small_world,
            TODAY,
            billing_deadline_months=0,
            repayment_bankgiro="5551238",
            fee_exempt_from_age=200,
        )
    errors = raised.value.message_dict
    assert errors["billing_deadline_months"] == ["Fristen ska vara 1–60 månader."]
    assert errors["repayment_bankgiro"] == ["Bankgironumret har fel kontrollsiffra."]
    assert errors["fee_exempt_from_age"] == ["Ange en ålder 0–130 år."]


def test_a_planned_change_can_be_withdrawn_but_not_one_in_force(small_world):
    planned = _set(small_world, TODAY + datetime.timedelta(days=5), billing_deadline_months=2)
    in_force = _set(small_world, TODAY, billing_deadline_months=9)
    region_services.region_rules_withdraw(actor=small_world.region_admin, version=planned)
    assert not RegionRules.objects.filter(pk=planned.pk).exists()
    assert AuditEvent.objects.filter(action="clinics.region.rules_withdrawn", object_id=str(planned.pk)).exists()
    with pytest.raises(ValidationError):
        region_services.region_rules_withdraw(actor=small_world.region_admin, version=in_force)
    assert region_rules(_fresh(small_world.region)).billing_deadline_months == 9


# The pages -----------------------------------------------------------------------------------------------------------


def _url(region, name, **kwargs):
    return reverse(name, kwargs={"region_code": region.code, **kwargs})


def _form_data(region, **changes) -> dict:
    rules = _rules(region)
    data = {
        "valid_from": (TODAY + datetime.timedelta(days=7)).isoformat(),
        "billing_deadline_months": rules["billing_deadline_months"],
        "billing_deadline_basis": rules["billing_deadline_basis"],
        "fee_exempt_from_age": "",
        "fee_exempt_young_adults_until_age": "",
        "fee_exempt_certificate_groups": "",
        "free_amount_without_prior_assessment": "",
        "repayment_bankgiro": rules["repayment_bankgiro"],
        "payout_second_confirmation_above": "500000",
    }
    return data | changes


def test_the_administrator_changes_the_rules_from_a_date_and_the_page_shows_who_and_when(client, small_world):
    region = small_world.region
    client.force_login(small_world.region_admin)
    form = lxml.html.fromstring(client.get(_url(region, "region_rules_edit")).content)
    assert form.xpath("//input[@name='billing_deadline_months']/@value") == ["6"]
    response = client.post(
        _url(region, "region_rules_edit"),
        _form_data(
            region,
            billing_deadline_months="3",
            fee_exempt_certificate_groups="n2",
            free_amount_without_prior_assessment="20 000",
            free_amount_support_forms=["N", "F"],
        ),
    )
    assert response.status_code == 302
    version = RegionRules.objects.get(region=region)
    assert (version.billing_deadline_months, version.fee_exempt_certificate_groups) == (3, ["N2"])
    assert version.free_amount_without_prior_assessment == 2_000_000
    assert version.free_amount_support_forms == [SupportForm.N, SupportForm.F]
    page = client.get(_url(region, "region_rules")).content.decode()
    assert "planerad" in page
    assert small_world.region_admin.email in page
    assert "Regionens regler ändrade" in page
    assert "Faktureringsfrist (månader): 6 → 3" in page


def test_a_refused_rules_form_says_why_and_keeps_what_was_typed(client, small_world):
    region = small_world.region
    client.force_login(small_world.region_admin)
    response = client.post(
        _url(region, "region_rules_edit"),
        _form_data(region, repayment_bankgiro="555-1238", fee_exempt_certificate_groups="N2, X9"),
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "Bankgironumret har fel kontrollsiffra." in text
    assert "Finns inte bland regionens patientkategorier: X9." in text
    assert 'value="555-1238"' in text
    assert 'value="N2, X9"' in text
    assert not RegionRules.objects.filter(region=region).exists()


def test_coordinators_read_the_rules_but_cannot_change_them(client, small_world):
    client.force_login(small_world.coordinator)
    page = client.get(_url(small_world.region, "region_rules"))
    assert page.status_code == 200
    assert _url(small_world.region, "region_rules_edit") not in page.content.decode()
    assert client.get(_url(small_world.region, "region_rules_edit")).status_code == 403
    assert client.post(_url(small_world.region, "region_rules_edit"), _form_data(small_world.region)).status_code == 403
    assert client.get(_url(small_world.region, "region_care_model_new")).status_code == 403


def test_the_payout_runs_four_eyes_amount_follows_the_rules_in_force(client, small_world):
    _set(small_world, TODAY, payout_second_confirmation_above=1_000_00)
    client.force_login(small_world.coordinator)
    page = client.get(_url(small_world.region, "payout_run_list")).content.decode()
    assert "1\u00a0000\u00a0kr" in page


# Care models and patient categories --------------------------------------------------------------------------------


def test_add_change_and_retire_a_care_model(client, small_world):
    region = small_world.region
    client.force_login(small_world.region_admin)
    response = client.post(_url(region, "region_care_model_new"), {"code": "p", "name": "Parodontologisk vård"})
    assert response.status_code == 302
    model = CareModel.objects.get(region=region, code="P")
    retire = (TODAY + datetime.timedelta(days=30)).isoformat()
    response = client.post(
        _url(region, "region_care_model_edit", care_model_pk=model.pk),
        {"code": "P", "name": "Parodontologisk vård", "retired_from": retire},
    )
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.retired_from.isoformat() == retire
    assert not model.in_use_on(model.retired_from) and model.in_use_on(TODAY)
    actions = list(AuditEvent.objects.filter(region_id=region.pk).values_list("action", flat=True))
    assert "clinics.care_model.added" in actions and "clinics.care_model.changed" in actions


def test_a_code_taken_is_refused_and_the_typed_input_kept(client, small_world):
    region = small_world.region
    client.force_login(small_world.region_admin)
    response = client.post(_url(region, "region_care_model_new"), {"code": "K1", "name": "Ny benämning"})
    text = response.content.decode()
    assert "Koden K1 finns redan i regionens lista." in text
    assert 'value="Ny benämning"' in text


def test_a_patient_category_in_use_keeps_its_code_but_can_be_retired(small_world):
    region = small_world.region
    category = PatientCategory.objects.get(region=region, code="N1")
    CertificateFactory(region=region, group="N1")
    assert region_services.code_in_use(category)
    with pytest.raises(ValidationError) as raised:
        region_services.region_code_save(
            actor=small_world.region_admin,
            region=region,
            kind=PatientCategory,
            instance=category,
            code="N9",
            name=category.name,
            support_form=category.support_form,
        )
    assert "kan inte ändras" in raised.value.message_dict["code"][0]
    region_services.region_code_save(
        actor=small_world.region_admin,
        region=region,
        kind=PatientCategory,
        instance=category,
        code="N1",
        name=category.name,
        support_form=category.support_form,
        retired_from=TODAY,
    )
    category.refresh_from_db()
    assert category.retired_from == TODAY
    assert not PatientCategory.objects.of_region(region).in_use_on(TODAY).filter(code="N1").exists()
