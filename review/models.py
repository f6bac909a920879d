"""The region's review (granskning): rules that put claims under review, and questions to the clinic about a claim."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from claims.models import Claim, review_rule_text
from clinics.models import Clinic, Region
from portal.tenancy import TenantQuerySet


class ReviewRuleKind(models.TextChoices):
    AMOUNT_ABOVE = "amount_above", _("Belopp över en gräns")
    CODES = "codes", _("Vissa åtgärder")
    SAMPLE = "sample", _("Stickprov")
    CLINIC = "clinic", _("Klinik under granskning")
    # Money controls (issue 11): the same care billed by another clinic, and an FHB billed close to its approval.
    POSSIBLE_DUPLICATE = "possible_duplicate", _("Möjlig dubblett")
    FHB_NEAR_LIMIT = "fhb_near_limit", _("FHB nära gränsen")


class ReviewRuleQuerySet(TenantQuerySet):
    region_path = "region"


class ReviewRule(models.Model):
    """One of a region's rules: a submitted claim that matches an active rule is put under review.

    Rules are never deleted, only deactivated, so that the history of a claim always names a rule that exists.
    """

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="review_rules")
    kind = models.CharField(_("Regel"), max_length=20, choices=ReviewRuleKind.choices)
    amount_limit = models.PositiveIntegerField(
        _("Beloppsgräns (öre)"), null=True, blank=True, help_text="The claim's total must be above this."
    )
    codes = ArrayField(models.CharField(max_length=10), verbose_name=_("Åtgärder"), default=list, blank=True)
    sample_percent = models.DecimalField(
        _("Andel (procent)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prior_assessment_share = models.PositiveSmallIntegerField(
        _("Andel av förhandsbedömningens godkända belopp (procent)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("En räkning som gör att så stor andel av det godkända beloppet är fakturerat granskas."),
    )
    note = models.CharField(_("Anteckning"), max_length=200, blank=True)
    is_active = models.BooleanField(_("Aktiv"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewRuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("granskningsregel")
        verbose_name_plural = _("granskningsregler")
        ordering = ["region", "-is_active", "kind", "created_at", "id"]
        indexes = [models.Index(fields=["region", "is_active"])]
        constraints = [
            # Each kind has its own setting, and only that one.
            models.CheckConstraint(
                condition=(
                    Q(kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit__isnull=False)
                    | Q(~Q(kind=ReviewRuleKind.AMOUNT_ABOVE), amount_limit__isnull=True)
                ),
                name="review_rule_amount_for_amount_rule",
            ),
            models.CheckConstraint(
                condition=Q(kind=ReviewRuleKind.CODES, codes__len__gt=0) | Q(~Q(kind=ReviewRuleKind.CODES), codes=[]),
                name="review_rule_codes_for_codes_rule",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=ReviewRuleKind.SAMPLE, sample_percent__gt=0, sample_percent__lte=100)
                    | Q(~Q(kind=ReviewRuleKind.SAMPLE), sample_percent__isnull=True)
                ),
                name="review_rule_percent_for_sample_rule",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=ReviewRuleKind.CLINIC, clinic__isnull=False)
                    | Q(~Q(kind=ReviewRuleKind.CLINIC), clinic__isnull=True)
                ),
                name="review_rule_clinic_for_clinic_rule",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind=ReviewRuleKind.FHB_NEAR_LIMIT,
                        prior_assessment_share__gte=1,
                        prior_assessment_share__lte=100,
                    )
                    | Q(~Q(kind=ReviewRuleKind.FHB_NEAR_LIMIT), prior_assessment_share__isnull=True)
                ),
                name="review_rule_share_for_fhb_rule",
            ),
            models.CheckConstraint(
                condition=Q(is_active=True, deactivated_at__isnull=True)
                | Q(is_active=False, deactivated_at__isnull=False),
                name="review_rule_deactivated_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def description(self) -> str:
        """The rule in words, as the rule list and a claim's history show it, in the language active now."""
        return review_rule_text(self.event_params)

    @property
    def event_params(self) -> dict:
        """What a claim's history keeps of the rule (claims.ClaimEvent.params), enough to put it into words."""
        params: dict = {"id": self.pk, "kind": self.kind}
        if self.kind == ReviewRuleKind.AMOUNT_ABOVE:
            params["amount_limit"] = self.amount_limit
        elif self.kind == ReviewRuleKind.CODES:
            params["codes"] = list(self.codes)
        elif self.kind == ReviewRuleKind.SAMPLE:
            params["sample_percent"] = f"{self.sample_percent.normalize():f}"
        elif self.kind == ReviewRuleKind.CLINIC:
            params.update(clinic_number=self.clinic.number, clinic_name=self.clinic.name)
        elif self.kind == ReviewRuleKind.FHB_NEAR_LIMIT:
            params["prior_assessment_share"] = self.prior_assessment_share
        return params


class ClaimQuestionQuerySet(TenantQuerySet):
    clinic_path = "claim__clinic"
    region_path = "claim__clinic__region"


class ClaimQuestion(models.Model):
    """A question from the region's coordinator about a claim under review, and the clinic's answer."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="questions")
    question = models.TextField(_("Fråga"), max_length=2000)
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    asked_at = models.DateTimeField(_("Ställd"), auto_now_add=True)
    answer = models.TextField(_("Svar"), max_length=2000, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(_("Besvarad"), null=True, blank=True)

    objects = ClaimQuestionQuerySet.as_manager()

    class Meta:
        verbose_name = _("fråga om räkning")
        verbose_name_plural = _("frågor om räkningar")
        ordering = ["claim", "asked_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(question=""), name="claim_question_not_empty"),
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True, answer="", answered_by__isnull=True)
                | (Q(answered_at__isnull=False, answered_by__isnull=False) & ~Q(answer="")),
                name="claim_question_answer_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["claim", "answered_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.claim}: {self.question[:50]}"

    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None
