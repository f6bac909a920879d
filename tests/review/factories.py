"""Factories for review rules and questions about claims."""

import factory

from review.models import ClaimQuestion, ReviewRule, ReviewRuleKind
from tests.claims.factories import ClaimFactory
from tests.clinics.factories import RegionFactory, UserFactory


class ReviewRuleFactory(factory.django.DjangoModelFactory):
    """An active rule; give `kind` and its one setting (amount_limit, codes, sample_percent or clinic)."""

    class Meta:
        model = ReviewRule

    region = factory.SubFactory(RegionFactory)
    kind = ReviewRuleKind.AMOUNT_ABOVE
    amount_limit = factory.LazyAttribute(lambda o: 2_000_000 if o.kind == ReviewRuleKind.AMOUNT_ABOVE else None)
    created_by = factory.SubFactory(UserFactory)


class ClaimQuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClaimQuestion

    claim = factory.SubFactory(ClaimFactory)
    question = "Vilka tänder gällde behandlingen?"
    asked_by = factory.SubFactory(UserFactory)
