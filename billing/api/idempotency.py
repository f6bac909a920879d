"""`Idempotency-Key` on every POST of the API: the same key and body answer the first result again.

The first call with a key inserts its row (`billing.models.IdempotentRequest`, unique per API key and
Idempotency-Key) in a transaction of its own, committed before the work starts; a second call with the key meets
the unique constraint and reads the row instead:

- the first still running (no answer yet) → `409` problem with `Retry-After`;
- another method, path or body under the key → `422` problem;
- the same request → the first answer again, byte for byte, with `Idempotent-Replayed: true`.

An answer of 500 or more is not kept (the row is removed), so the call may be retried with the same key; nor is a
refusal that passes once the clinic acts (`forget_key`: the agreement not signed, billing.services.agreement_gate).
A key is kept 24 hours (`IDEMPOTENCY_TTL`); after that it is free for a new request. Each new key of an API key
removes that API key's expired rows, so the table holds at most a day of calls. The header is optional; longer than 255
characters → `400`.
"""

from __future__ import annotations

import datetime
import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from billing.models import IdempotentRequest
from clinics.models import ApiKey

HEADER = "Idempotency-Key"
META_KEY = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_LENGTH = 255
IDEMPOTENCY_TTL = datetime.timedelta(hours=24)
# What a replay gives back besides the body and status.
KEPT_HEADERS = ("Content-Type", "Content-Language", "Location")
# A first call that has neither answered nor failed within this time is taken to have died with its process.
ABANDONED_AFTER = datetime.timedelta(minutes=10)


def request_fingerprint(request) -> str:
    """Method, path and the SHA-256 of the raw body (a body too large to hold in memory, an invoice file: of its
    parsed parts, each file read in chunks)."""
    django_request = request._request
    length = int(django_request.META.get("CONTENT_LENGTH") or 0)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or length <= limit:
        digest = hashlib.sha256(django_request.body).hexdigest()
    else:
        hashed = hashlib.sha256()
        for name, values in sorted(request.data.lists()):
            hashed.update(name.encode() + b"\0")
            for value in values:
                if hasattr(value, "chunks"):
                    for chunk in value.chunks():
                        hashed.update(chunk)
                    value.seek(0)
                else:
                    hashed.update(str(value).encode())
                hashed.update(b"\0")
        digest = "parts:" + hashed.hexdigest()
    return f"{request.method} {django_request.path} {digest}"[:400]


def idempotent_request_begin(
    *, api_key: ApiKey, idempotency_key: str, fingerprint: str
) -> tuple[IdempotentRequest, bool]:
    """The key's row: made now for this call (True), or the earlier call's (False). An expired or abandoned row
    is removed and the key taken anew."""
    rows = IdempotentRequest.objects.of_clinic(api_key.clinic_id).filter(
        api_key=api_key, idempotency_key=idempotency_key
    )
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotentRequest.objects.create(
                    api_key=api_key, idempotency_key=idempotency_key, fingerprint=fingerprint
                )
        except IntegrityError:
            row = rows.first()
            if row is None:
                continue  # the first failed and let the key go meanwhile
            abandoned = row.status is None and row.created_at < now - ABANDONED_AFTER
            if row.created_at < now - IDEMPOTENCY_TTL or abandoned:
                rows.filter(pk=row.pk, created_at=row.created_at).delete()
                continue
            return row, False
        IdempotentRequest.objects.of_clinic(api_key.clinic_id).filter(
            api_key=api_key, created_at__lt=now - IDEMPOTENCY_TTL
        ).delete()
        return row, True
    return row, False


# An answer marked with this attribute lets its key go: the same call with the key may be made again later.
FORGET_KEY = "idempotency_forget"


def forget_key(response):
    setattr(response, FORGET_KEY, True)
    return response


def idempotent_request_finish(*, row: IdempotentRequest, response) -> None:
    """Keep the answer (rendered) for the key's retries; an answer of 500 or more lets the key go."""
    rows = IdempotentRequest.objects.of_clinic(row.api_key.clinic_id).filter(pk=row.pk)
    if response.status_code >= 500 or getattr(response, FORGET_KEY, False):
        rows.delete()
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    rows.update(status=response.status_code, body=bytes(response.content), headers=headers)


def idempotent_request_forget(*, row: IdempotentRequest) -> None:
    """The call failed before it could answer: the key may be used again."""
    IdempotentRequest.objects.of_clinic(row.api_key.clinic_id).filter(pk=row.pk).delete()


def replay_response(row: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(bytes(row.body), status=row.status)
    for name, value in row.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response
