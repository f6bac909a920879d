"""The demo data loads, and loading it again changes nothing."""

from django.core.management import call_command

from clinics.models import Clinic, ClinicMembership, Region, RegionMembership, User
from portal.demo import DEMO_PASSWORD, demo_load


def _state():
    return {
        model.__name__: sorted(model.objects.values_list(*[f.attname for f in model._meta.concrete_fields]))
        for model in (Region, Clinic, User, ClinicMembership, RegionMembership)
    }


def test_second_load_changes_nothing(db, capsys):
    call_command("load_demo")
    first = _state()
    call_command("load_demo")
    assert "0 created, 0 changed" in capsys.readouterr().out
    assert _state() == first


def test_demo_world_matches_the_readme(db):
    demo_load()
    assert {c.number for c in Clinic.objects.filter(region__code="vg")} == {"31", "32"}
    assert {c.number for c in Clinic.objects.filter(region__code="dalarna")} == {"2001"}
    for email in (
        "fakturerare@demo.test",
        "dalarna@demo.test",
        "admin31@demo.test",
        "samordnare.vg@demo.test",
        "samordnare.dalarna@demo.test",
        "regionadmin@demo.test",
    ):
        assert User.objects.get(email=email).check_password(DEMO_PASSWORD)
    vg = Region.objects.get(code="vg")
    assert (vg.billing_deadline_months, vg.billing_deadline_basis) == (6, "treatment_day")
    assert list(vg.care_models.values_list("code", flat=True)) == ["K1", "M1", "M2", "M3", "P"]
    s_codes = set(vg.patient_categories.filter(support_form="S").values_list("code", flat=True))
    assert s_codes == {f"S{i}" for i in range(1, 13)} | {"S15"}
    dalarna = Region.objects.get(code="dalarna")
    assert (dalarna.billing_deadline_months, dalarna.billing_deadline_basis) == (3, "end_of_treatment_month")
    assert dalarna.fee_exempt_from_age == 85 and dalarna.fee_exempt_certificate_groups == ["N2"]
