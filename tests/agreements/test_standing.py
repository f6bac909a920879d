"""Where a clinic stands with its region's agreement: the state table of agreements.selectors.agreement_standing,
which billing's gate asks on every door that sends claims."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agreements.models import AgreementVersion
from agreements.selectors import agreement_standing

from ..portal.orm_read import assert_read_as_the_orm
from .helpers import DAY, signed, version

pytestmark = pytest.mark.django_db

# Each version: (valid from, days from today; must sign again; sign by, days from today or None; signed by the clinic)
# → (the current version's number or None, may send, the grace period's last day in days from today or None)
TABLE = {
    "nothing published": ([], (None, True, None)),
    "first version unsigned": ([(-10, True, 5, False)], (1, False, None)),
    "first version signed": ([(-10, True, 5, True)], (1, True, None)),
    "first version coming, none in force": ([(3, True, 10, False)], (None, True, None)),
    "new version unsigned, before its sign-by day": ([(-100, True, -90, True), (-1, True, 5, False)], (2, True, 5)),
    "new version unsigned, on its sign-by day": ([(-100, True, -90, True), (-1, True, 0, False)], (2, True, 0)),
    "new version unsigned, after its sign-by day": ([(-100, True, -90, True), (-9, True, -1, False)], (2, False, None)),
    "new version signed": ([(-100, True, -90, True), (-9, True, -1, True)], (2, True, None)),
    "new version needs no new signature": ([(-100, True, -90, True), (-9, False, None, False)], (2, True, None)),
    "no new signature, but the first never signed": (
        [(-100, True, -90, False), (-9, False, None, False)],
        (2, False, None),
    ),
    "new version unsigned and the old never signed": (
        [(-100, True, -90, False), (-1, True, 5, False)],
        (2, False, None),
    ),
    "only the new version signed": ([(-100, True, -90, False), (-9, True, -1, True)], (2, True, None)),
    "a chain without new signatures": (
        [(-100, True, -90, True), (-50, False, None, False), (-9, False, None, False)],
        (3, True, None),
    ),
    "a chain, then one to sign, overdue": (
        [(-100, True, -90, True), (-50, False, None, False), (-9, True, -1, False)],
        (3, False, None),
    ),
    "a signed version and the next coming": ([(-100, True, -90, True), (10, True, 20, False)], (1, True, None)),
}


@pytest.mark.parametrize("versions,expected", list(TABLE.values()), ids=list(TABLE))
def test_the_standing_follows_the_table(small_world, versions, expected):
    today = timezone.localdate()
    clinic, admin = small_world.clinic, small_world.admin
    for number, (valid_from, must_sign, sign_by, is_signed) in enumerate(versions, start=1):
        made = version(
            small_world.region,
            small_world.region_admin,
            number=number,
            valid_from=today + valid_from * DAY,
            must_sign_again=must_sign,
            sign_by=None if sign_by is None else today + sign_by * DAY,
        )
        if is_signed:
            signed(made, clinic, admin)
    standing = agreement_standing(clinic=clinic, today=today)
    current, may_send, grace = expected
    assert (standing.current.number if standing.current else None) == current
    assert standing.may_send is may_send
    assert standing.grace_until == (None if grace is None else today + grace * DAY)


def test_another_regions_or_clinics_agreement_and_signature_count_for_nothing(small_world):
    today = timezone.localdate()
    mine = version(small_world.region, small_world.region_admin, number=1, valid_from=today - DAY, sign_by=today)
    other = version(small_world.other_region, small_world.region_admin, number=1, valid_from=today - DAY)
    signed(other, small_world.clinic, small_world.admin)  # (cannot happen through the service)
    signed(mine, small_world.other_clinic, small_world.admin)
    assert agreement_standing(clinic=small_world.clinic, today=today).may_send is False
    assert agreement_standing(clinic=small_world.other_clinic, today=today).may_send is True


def test_the_versions_to_sign_are_the_one_in_force_and_those_coming_unsigned(small_world):
    today = timezone.localdate()
    region, publisher = small_world.region, small_world.region_admin
    old = version(region, publisher, number=1, valid_from=today - 100 * DAY, sign_by=today - 90 * DAY)
    current = version(region, publisher, number=2, valid_from=today - DAY, sign_by=today + 5 * DAY)
    coming = version(region, publisher, number=3, valid_from=today + 10 * DAY, sign_by=today + 20 * DAY)
    assert agreement_standing(clinic=small_world.clinic, today=today).to_sign == [current, coming]
    signed(current, small_world.clinic, small_world.admin)
    assert agreement_standing(clinic=small_world.clinic, today=today).to_sign == [coming]
    assert old.pk  # the superseded version is never offered


def test_the_standing_is_one_query_and_its_versions_are_the_orms(small_world, django_assert_num_queries):
    today = timezone.localdate()
    region, publisher = small_world.region, small_world.region_admin
    first = version(region, publisher, number=1, valid_from=today - 100 * DAY, sign_by=today - 90 * DAY)
    version(region, publisher, number=2, valid_from=today - DAY, must_sign_again=False)
    coming = version(region, publisher, number=3, valid_from=today + 10 * DAY, sign_by=today + 20 * DAY)
    signed(first, small_world.clinic, small_world.admin)
    with django_assert_num_queries(1):
        standing = agreement_standing(clinic=small_world.clinic, today=today)
    assert (standing.current.number, standing.covered, standing.to_sign) == (2, True, [standing.current, coming])
    orm = AgreementVersion.objects.filter(region=region).order_by("valid_from", "number")
    for got, expected in zip([standing.current, *standing.to_sign[1:]], orm[1:], strict=True):
        assert_read_as_the_orm(got, expected)
    elsewhere = small_world.other_region_clinic
    with django_assert_num_queries(1):
        assert agreement_standing(clinic=elsewhere, today=today).current is None
