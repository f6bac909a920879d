"""The two logs every service and view writes: changes (audit) and views of patient data (access).

audit_record(actor=user, action="clinics.membership.removed", obj=membership, before={...})
access_log_record(request=request, personal_identity_number="200001012384", shown="Sök person")
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, models

from .bulk import copy_insert
from .models import AccessLogEntry, AuditEvent


class AuditOutsideTransaction(RuntimeError):
    """An audit record must share the transaction of the change it records."""


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    """The values of `fields` on `obj` in a form the JSON log can hold."""
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    clinic=None,
    region=None,
) -> AuditEvent:
    """Record a change. Call inside the service's `transaction.atomic()` block, after the change."""
    event = _audit_event(actor, action, obj, before, after, clinic, region)
    event.save()
    return event


def audit_record_many(
    *,
    actor,
    action: str,
    changes: Iterable[tuple[models.Model, dict | None, dict | None]],
    clinic=None,
    region=None,
) -> int:
    """Record the same kind of change to many objects (the claims of an invoice file) in one statement.

    `changes` holds (object, before, after) for each. Call inside the change's transaction, as `audit_record`.
    """
    return copy_insert(
        AuditEvent,
        (_audit_event(actor, action, obj, before, after, clinic, region) for obj, before, after in changes),
    )


def _audit_event(actor, action, obj, before, after, clinic, region) -> AuditEvent:
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(f"{action}: audit_record must run inside the change's transaction")
    if action.count(".") < 2 or not all(action.split(".")):
        raise ValueError(f"audit action {action!r} must be namespaced: app.object.verb")
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent(
        actor_id=user.pk if user else None,
        actor_email=user.email if user else "",
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        clinic_id=getattr(clinic, "pk", clinic),
        region_id=getattr(region, "pk", region),
        before=before or {},
        after=after or {},
    )


def access_log_record(*, request, personal_identity_number: str, shown: str) -> AccessLogEntry:
    """Record that the requesting user was shown a patient's data.

    The clinic or region comes from the request, as set by `portal.access` for the current view.
    """
    return access_log_record_many(request=request, personal_identity_numbers=[personal_identity_number], shown=shown)[0]


def access_log_record_many(*, request, personal_identity_numbers, shown: str) -> list[AccessLogEntry]:
    """One entry per patient shown on a page (a list of claims, say), written in one statement."""
    clinic = getattr(request, "clinic", None)
    region = getattr(request, "region", None) or (clinic.region if clinic else None)
    if region is None:
        raise ValueError("patient data may only be shown inside a clinic or region view")
    membership = getattr(request, "membership", None)
    return AccessLogEntry.objects.bulk_create(
        AccessLogEntry(
            user=request.user,
            role=getattr(membership, "role", ""),
            clinic=clinic,
            region=region,
            personal_identity_number=pin,
            shown=shown[:200],
            path=request.path[:300],
        )
        for pin in sorted(set(personal_identity_numbers))
    )
