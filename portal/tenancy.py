"""Tenancy that fails closed: rows owned by a clinic or a region are read through `of_clinic` / `of_region`.

Each clinic- or region-owned model has a QuerySet built on `TenantQuerySet` that knows the path from its rows to
their owner. View and selector code starts every query of such a model with one of the two accessors
(`Claim.objects.of_clinic(request.clinic)`), so the scope is part of the query's first word instead of a
`clinic=` each query must remember; tests/portal/test_tenancy.py fails on a query that starts any other way.
"""

from __future__ import annotations

from typing import ClassVar, Self

from django.db import models


class TenantQuerySet(models.QuerySet):
    """A QuerySet of rows owned by a clinic and/or a region.

    A subclass names the lookup path from a row to its clinic and to its region (None where there is none:
    a tariff belongs to a region, never to one clinic). `as_manager()` makes it the model's `objects`.
    """

    clinic_path: ClassVar[str | None] = None
    region_path: ClassVar[str | None] = None

    def of_clinic(self, clinic) -> Self:
        """The rows of `clinic` (a Clinic or its pk)."""
        return self._owned_by("clinic", self.clinic_path, clinic)

    def of_clinics(self, clinics) -> Self:
        """The rows of several clinics (Clinics or pks): an umbrella organisation's, on its own pages."""
        if self.clinic_path is None:
            raise TypeError(f"{self.model.__name__} is not owned by a clinic")
        clinics = list(clinics)
        if not clinics:
            return self.none()
        return self.filter(**{f"{self.clinic_path}__in": clinics})

    def of_region(self, region) -> Self:
        """The rows of `region` (a Region or its pk): for a clinic's rows, those of the region's clinics."""
        return self._owned_by("region", self.region_path, region)

    def _owned_by(self, kind: str, path: str | None, owner) -> Self:
        if path is None:
            raise TypeError(f"{self.model.__name__} is not owned by a {kind}")
        # A missing owner (request.clinic on a region page) must not turn into "rows without an owner".
        if owner is None:
            raise ValueError(f"{self.model.__name__}.objects.of_{kind}() needs a {kind}")
        return self.filter(**{path: owner})


def is_tenant_model(model: type[models.Model]) -> bool:
    """Whether the model's rows are owned by a clinic or a region (its default manager is scoped)."""
    return isinstance(model._default_manager.all(), TenantQuerySet)
