"""Calls to /api/v1/ with a key, as a journal system makes them."""

from __future__ import annotations

import json

from clinics import services


def key_for(clinic, *, name: str = "Journalsystemet", actor=None, **kwargs) -> tuple:
    return services.api_key_create(actor=actor, clinic=clinic, name=name, **kwargs)


def call(client, method: str, path: str, secret: str | None = None, body=None, **headers):
    if secret is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {secret}")
    data = json.dumps(body) if body is not None and not isinstance(body, str) else body
    kwargs = {"content_type": "application/json"} if data is not None else {}
    return getattr(client, method)(f"/api/v1/{path}", data=data, **kwargs, **headers)
