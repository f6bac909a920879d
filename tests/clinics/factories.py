"""Factories for regions, clinics, users and memberships; every number has valid check digits."""

import factory
from django.contrib.auth.hashers import make_password

from clinics.models import (
    CareModel,
    Clinic,
    ClinicMembership,
    ClinicRole,
    DeadlineBasis,
    PatientCategory,
    PaymentMethod,
    Region,
    RegionMembership,
    RegionRole,
    User,
)
from portal.validators import gs1_check_digit, luhn_check_digit


def _luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


class GetOrCreateFactory(factory.django.DjangoModelFactory):
    """`django_get_or_create`, in fewer queries. Django's get_or_create is a SELECT, then a savepoint around the
    INSERT (four queries for a new row), and the factories made most of a test's users and regions that way.

    - Keys the test did not give, from the factory's own `factory.Sequence`, are new to the database (each worker
      counts on from its start, tests roll back or are emptied, and no test or demo names such a key): one INSERT.
      Should one ever exist, the INSERT fails loudly rather than handing out another test's row.
    - A key the test gave, or one that repeats (PatientFactory's 18 test personnummer): the row found, else an
      INSERT, two queries. Without the savepoint, which only serves two threads creating the same key at once: a
      test makes its data in its own thread before any other starts."""

    class Meta:
        abstract = True

    @classmethod
    def _get_or_create(cls, model_class, *args, **kwargs):
        manager = cls._get_manager(model_class)
        keys = cls._meta.django_get_or_create
        given = cls._original_params or {}
        if all(key not in given and isinstance(cls._meta.declarations.get(key), factory.Sequence) for key in keys):
            return manager.create(*args, **kwargs)
        found = manager.filter(**{key: kwargs[key] for key in keys}).first()
        return found if found is not None else manager.create(*args, **kwargs)


class RegionFactory(GetOrCreateFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"region{n}")
    name = factory.Sequence(lambda n: f"Region {n}")
    organisation_number = factory.Sequence(lambda n: _luhn(f"2321{n % 100000:05d}"))
    billing_deadline_months = 6
    billing_deadline_basis = DeadlineBasis.TREATMENT_DAY
    repayment_bankgiro = factory.Sequence(lambda n: _luhn(f"55{n % 100000:05d}"))


# The codes a region's claims and certificates name: a care model (required on N claims once a region has one)
# and the patient categories, which are also the certificate groups.
CARE_MODELS = [("K1", "Konventionell kliniktandvård")]
PATIENT_CATEGORIES = [
    *[("N", f"N{n}", name) for n, name in enumerate(["särskilt boende", "eget boende", "LSS", "omvårdnad"], 1)],
    *[("F", f"F{n}", f"F-grupp {n}") for n in range(1, 9)],
    *[("S", f"S{n}", f"sjukdomsgrupp {n}") for n in range(1, 4)],
]


def region_codes_add(region: Region) -> Region:
    """Give the region CARE_MODELS and PATIENT_CATEGORIES (two queries)."""
    CareModel.objects.bulk_create(CareModel(region=region, code=code, name=name) for code, name in CARE_MODELS)
    PatientCategory.objects.bulk_create(
        PatientCategory(region=region, support_form=form, code=code, name=name)
        for form, code, name in PATIENT_CATEGORIES
    )
    return region


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    region = factory.SubFactory(RegionFactory)
    # Seven digits from 9000000: no test names a clinic so (they use two to six digits), so a worker that has made
    # 400 factory clinics cannot make a second "501" beside a test's own.
    number = factory.Sequence(lambda n: f"9{n:06d}")
    name = factory.Sequence(lambda n: f"Testkliniken {n}")
    organisation_number = factory.Sequence(lambda n: _luhn(f"5566{n % 100000:05d}"))
    gln = factory.Sequence(lambda n: (p := f"735{n % 10**9:09d}") + gs1_check_digit(p))
    payment_method = PaymentMethod.BANKGIRO
    account_number = factory.Sequence(lambda n: _luhn(f"50{n % 100000:05d}"))
    payout_email = factory.Sequence(lambda n: f"ekonomi{n}@klinik.test")


class UserFactory(GetOrCreateFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"person{n}@klinik.test")
    name = factory.Sequence(lambda n: f"Person {n}")
    # Hashed before the INSERT: one write per user, not an INSERT and an UPDATE.
    password = factory.LazyFunction(lambda: make_password("tandvard-test"))


class ClinicMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicMembership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = ClinicRole.BILLER


class RegionMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegionMembership

    user = factory.SubFactory(UserFactory)
    region = factory.SubFactory(RegionFactory)
    role = RegionRole.COORDINATOR
