"""The region's rules on a date: the one way every part of the portal reads them.

A region's rules (billing deadline, fee exemptions, free amount, repayment bankgiro, the four-eyes amount of payout
runs) change from a date: each change is a `RegionRules` version, in force from its `valid_from` until the next
version's. A claim's deadline and fees follow the rules in force on its visit date; what is done today (a payout
run, a repayment) follows today's. Before a region's first version its own fields are the rules.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields

from django.utils import timezone

from portal.db import PreparedQuery, model_columns, model_from_row

from .models import REGION_RULE_FIELDS, Region, RegionRules

_CACHE = "_rule_versions"
# A region's versions, oldest first, read on every clinic page that shows a deadline or a fee: compiled once per
# process (portal.db.PreparedQuery).
_VERSIONS = PreparedQuery(
    lambda region_id: (
        RegionRules.objects.of_region(region_id).order_by("valid_from").values_list(*model_columns(RegionRules))
    ),
    region_id=int,
)


@dataclass(frozen=True)
class Rules:
    """The rules in force on a day, and since when (None: the region's rules from the start)."""

    billing_deadline_months: int
    billing_deadline_basis: str
    fee_exempt_from_age: int | None
    fee_exempt_young_adults_until_age: int | None
    fee_exempt_certificate_groups: tuple[str, ...]
    free_amount_without_prior_assessment: int | None
    free_amount_support_forms: tuple[str, ...]
    repayment_bankgiro: str
    payout_second_confirmation_above: int
    valid_from: datetime.date | None = None

    @classmethod
    def of(cls, source: Region | RegionRules, valid_from: datetime.date | None = None) -> Rules:
        values = {name: getattr(source, name) for name in REGION_RULE_FIELDS}
        for name in ("fee_exempt_certificate_groups", "free_amount_support_forms"):
            values[name] = tuple(values[name] or ())
        return cls(**values, valid_from=valid_from)

    def values(self) -> dict:
        """The rules as stored (lists, not tuples), without valid_from."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "valid_from"}
        for name in ("fee_exempt_certificate_groups", "free_amount_support_forms"):
            out[name] = list(out[name])
        return out


def _versions(region: Region) -> list[RegionRules]:
    """The region's versions, oldest first; read once per region object (a request's, a task's)."""
    if region.pk is None:
        return []
    cached = region.__dict__.get(_CACHE)
    if cached is None:
        cached = [model_from_row(RegionRules, iter(row)) for row in _VERSIONS.rows(region_id=region.pk)]
        region.__dict__[_CACHE] = cached
    return cached


def region_rules_forget(region: Region) -> None:
    """Drop what `region_rules` read of this region object (after a change through another object)."""
    region.__dict__.pop(_CACHE, None)


def region_rules(region: Region, on: datetime.date | None = None) -> Rules:
    """The region's rules in force on `on` (today when None): the latest version from that day or before."""
    on = on or timezone.localdate()
    current = None
    for version in _versions(region):
        if version.valid_from > on:
            break
        current = version
    if current is None:
        return Rules.of(region)
    return Rules.of(current, current.valid_from)


def region_rule_versions(region: Region) -> list[RegionRules]:
    """Every version, newest first (for the page's history)."""
    return list(RegionRules.objects.of_region(region).select_related("created_by").order_by("-valid_from"))
