"""What the billing desk keeps of its own: the API's idempotency records (billing/api/idempotency.py)."""

from __future__ import annotations

from django.db import models

from clinics.models import ApiKey
from portal.tenancy import TenantQuerySet


class IdempotentRequestQuerySet(TenantQuerySet):
    clinic_path = "api_key__clinic"
    region_path = "api_key__clinic__region"


class IdempotentRequest(models.Model):
    """A POST of the API sent with an `Idempotency-Key`, and the answer it got.

    One row per (key, Idempotency-Key), made by the first call before it runs (`status` null while it runs) and
    given its answer when it ends: the same key and body later answer that again; another body under the same
    key is refused. Kept 24 hours (`billing.api.idempotency.IDEMPOTENCY_TTL`), then the key may be used anew.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=255)
    # method, path and sha256 of the raw body: the same key must come with the same request.
    fingerprint = models.CharField(max_length=400)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.BinaryField(blank=True, default=b"")
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = IdempotentRequestQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "idempotency_key"], name="idempotency_key_unique_per_api_key")
        ]
        indexes = [models.Index(fields=["api_key", "created_at"])]

    def __str__(self) -> str:
        return f"{self.api_key_id}:{self.idempotency_key}"
