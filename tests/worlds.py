"""A small world built with the factories, for unit and service tests: nothing of the demo.

Each part is made the first time a test touches it, so a test pays only for what it uses. The shape is the
demo's, so a test reads the same on either: a region with two clinics (one biller bills both) and another
region with a clinic of its own, and a person in each role. Dates are the test's own, relative to today.

A test that needs a part made otherwise sets it before its first use (`world.clinic = ClinicFactory(...)`);
what is made later is built on it.
"""

from __future__ import annotations

import datetime
from functools import cached_property

from django.utils import timezone

from claims.models import TariffVersion
from clinics.models import Clinic, ClinicMembership, ClinicRole, Region, RegionMembership, RegionRole, User
from tests.claims.factories import tariff_for
from tests.clinics.factories import (
    ClinicFactory,
    ClinicMembershipFactory,
    RegionFactory,
    RegionMembershipFactory,
    UserFactory,
    region_codes_add,
)


class SmallWorld:
    @cached_property
    def region(self) -> Region:
        return region_codes_add(RegionFactory())

    @cached_property
    def other_region(self) -> Region:
        return region_codes_add(RegionFactory())

    @cached_property
    def clinic(self) -> Clinic:
        return ClinicFactory(region=self.region, email="klinik@klinik.test")

    @cached_property
    def other_clinic(self) -> Clinic:
        """In the same region as `clinic`."""
        return ClinicFactory(region=self.region)

    @cached_property
    def other_region_clinic(self) -> Clinic:
        return ClinicFactory(region=self.other_region)

    @cached_property
    def biller(self) -> User:
        """Bills for `clinic` and `other_clinic`."""
        user = UserFactory(name="Fia Fakturerare")
        ClinicMembership.objects.bulk_create(  # one INSERT for both
            ClinicMembership(user=user, clinic=clinic, role=ClinicRole.BILLER)
            for clinic in (self.clinic, self.other_clinic)
        )
        return user

    @cached_property
    def other_region_biller(self) -> User:
        return ClinicMembershipFactory(
            user__name="Dan Dalfakturerare", clinic=self.other_region_clinic, role=ClinicRole.BILLER
        ).user

    @cached_property
    def admin(self) -> User:
        """The local administrator of `clinic`."""
        return ClinicMembershipFactory(
            user__name="Ada Administratör", clinic=self.clinic, role=ClinicRole.LOCAL_ADMIN
        ).user

    @cached_property
    def coordinator(self) -> User:
        return RegionMembershipFactory(
            user__name="Sara Samordnare", region=self.region, role=RegionRole.COORDINATOR
        ).user

    @cached_property
    def other_region_coordinator(self) -> User:
        return RegionMembershipFactory(
            user__name="Sune Samordnare", region=self.other_region, role=RegionRole.COORDINATOR
        ).user

    @cached_property
    def region_admin(self) -> User:
        """Region administrator of both regions."""
        user = UserFactory(name="Rut Regionadministratör")
        RegionMembership.objects.bulk_create(  # one INSERT for both
            RegionMembership(user=user, region=region, role=RegionRole.REGION_ADMIN)
            for region in (self.region, self.other_region)
        )
        return user

    def tariff(self, *days: datetime.date, region: Region | None = None) -> TariffVersion:
        """The region's tariff version covering each day (the standard test tariff of that year, made if
        missing); returns the first day's. Without days: today's."""
        return tariff_for(region or self.region, *(days or (timezone.localdate(),)))
