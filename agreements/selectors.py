"""Reading agreements: where a clinic stands (may it send claims?), and the signatures for the region's page.

The rule (`agreement_standing`), asked by billing's one gate on every door that sends claims:

- a region that has published no agreement in force yet does not hold anything back;
- the version in force ("current") is the latest whose valid-from day has come;
- a version is *covered* for a clinic when the clinic signed it, or when it need not be signed again and the
  version before it is covered (the first version must always be signed);
- a clinic whose current version is covered may send;
- one that has not signed a version that must be signed again still may send until the version's sign-by day,
  if the version before it is covered (the old signature holds until then: the grace period);
- otherwise sending claims, files and API calls that send claims are refused until the clinic signs. Checking a
  file, Sök person and the eligibility check are never held back.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.translation import gettext as _

from clinics.models import Clinic
from portal.db import PreparedQuery, model_columns, model_from_row

from .models import AgreementSignature, AgreementVersion


@dataclass(frozen=True)
class AgreementStanding:
    current: AgreementVersion | None
    covered: bool  # the current version is signed (or needs no new signature)
    grace_until: datetime.date | None  # not covered, but the old signature holds until this day
    # Versions the clinic may sign now (the current one and those coming), unsigned, oldest first.
    to_sign: list[AgreementVersion] = field(default_factory=list)

    @property
    def may_send(self) -> bool:
        return self.current is None or self.covered or self.grace_until is not None


# The region's versions, oldest first, each with whether the clinic signed it: one query instead of two, asked on the
# clinic's start page and before anything sends claims, so compiled once per process (portal.db.PreparedQuery).
_VERSIONS_SIGNED = PreparedQuery(
    lambda region_id, clinic_id: (
        AgreementVersion.objects.of_region(region_id)
        .order_by("valid_from", "number")
        .values_list(
            *model_columns(AgreementVersion),
            Exists(AgreementSignature.objects.of_clinic(clinic_id).filter(version=OuterRef("pk"))),
        )
    ),
    region_id=int,
    clinic_id=int,
)


def agreement_standing(*, clinic: Clinic, today: datetime.date) -> AgreementStanding:
    versions, signed = [], set()
    for row in _VERSIONS_SIGNED.rows(region_id=clinic.region_id, clinic_id=clinic.pk):
        values = iter(row)
        version = model_from_row(AgreementVersion, values)
        versions.append(version)
        if next(values):
            signed.add(version.pk)
    if not versions:
        return AgreementStanding(current=None, covered=True, grace_until=None)
    in_force = [version for version in versions if version.valid_from <= today]
    coming = [version for version in versions if version.valid_from > today]
    covered_before = False  # whether the version before the one looked at is covered
    covered = {}
    for version in versions:
        covered[version.pk] = version.pk in signed or (covered_before and not version.must_sign_again)
        covered_before = covered[version.pk]
    to_sign = [version for version in in_force[-1:] + coming if version.pk not in signed]
    if not in_force:
        return AgreementStanding(current=None, covered=True, grace_until=None, to_sign=to_sign)
    current = in_force[-1]
    if covered[current.pk]:
        return AgreementStanding(current=current, covered=True, grace_until=None, to_sign=to_sign)
    previous_covered = len(in_force) > 1 and covered[in_force[-2].pk]
    grace = current.sign_by if current.sign_by and today <= current.sign_by and previous_covered else None
    return AgreementStanding(current=current, covered=False, grace_until=grace, to_sign=to_sign)


def agreement_refusal_message(standing: AgreementStanding) -> str:
    """Why claims are refused, in the reader's language (the gate's one message)."""
    return _(
        "Kliniken har inte signerat avtalet %(title)s (version %(number)s). Räkningar kan inte skickas förrän "
        "avtalet är signerat av klinikens avtalsansvarige eller lokala administratör."
    ) % {"title": standing.current.title, "number": standing.current.number}


def agreement_sign_path(clinic: Clinic) -> str:
    return reverse("clinic_agreements", kwargs={"clinic_pk": clinic.pk})


def clinic_signatures(*, clinic: Clinic) -> list[AgreementSignature]:
    """Every signature of the clinic, newest first: who, when, which version."""
    return list(
        AgreementSignature.objects.of_clinic(clinic).select_related("version", "signed_by").order_by("-signed_at")
    )


def region_versions(*, region) -> list[AgreementVersion]:
    return list(AgreementVersion.objects.of_region(region).select_related("published_by").order_by("-number"))


@dataclass(frozen=True)
class ClinicSignatureRow:
    clinic: Clinic
    signature: AgreementSignature | None


def version_signatures(*, region, version: AgreementVersion) -> list[ClinicSignatureRow]:
    """Each of the region's active clinics with its signature of the version (or None), by kliniknummer."""
    signatures = {
        signature.clinic_id: signature
        for signature in AgreementSignature.objects.of_region(region)
        .filter(version=version)
        .select_related("signed_by")
    }
    clinics = Clinic.objects.of_region(region).filter(is_active=True).order_by("number")
    return [ClinicSignatureRow(clinic, signatures.get(clinic.pk)) for clinic in clinics]
