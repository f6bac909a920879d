"""Logs an operator can follow: every request has an id (X-Request-ID, given by the proxy or the client, or made
here) that each log line of the request carries with the user's and the clinic's id; production writes one JSON
object a line; and no line ever holds a whole personnummer, whatever a log call or a traceback put in it.

The request id is echoed on every answer, so a user's report ("fel-id 3f2a…") or a journal system's call finds the
lines of that request. Celery's lines carry the task's name and id instead.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter

from .validators import mask_personal_identity_numbers_in

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller's own id may look like (letters, digits and ._:-, at most 200); anything else is replaced by ours,
# so that a header never puts text of its choosing into the logs.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")

_current_request: contextvars.ContextVar = contextvars.ContextVar("tandportal_request", default=None)


def request_id_of(header_value: str) -> str:
    """The caller's X-Request-ID if it is a sensible one, else a new random id."""
    return header_value if REQUEST_ID_PATTERN.match(header_value or "") else uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: gives the request its id (request.request_id), makes it the current request for the
    log lines written while it is served, and answers it in X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_of(request.META.get("HTTP_X_REQUEST_ID", ""))
        token = _current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _current_request.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def current_request_id() -> str | None:
    request = _current_request.get()
    return getattr(request, "request_id", None) if request is not None else None


class RequestContextFilter(logging.Filter):
    """Adds request_id, user_id and clinic_id (of the request being served) to every record, and in a worker the
    task's name and id. Reads only what the request already holds: a log line never costs a query."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _current_request.get()
        if request is not None:
            record.request_id = getattr(request, "request_id", None)
            user = getattr(request, "_cached_user", None)  # set once the request's user was read
            record.user_id = user.pk if user is not None and user.is_authenticated else None
            clinic = getattr(request, "clinic", None)
            record.clinic_id = getattr(clinic, "pk", None)
            region = getattr(request, "region", None)
            record.region_id = getattr(region, "pk", None)
        else:
            from celery import current_task

            if current_task and current_task.request.id:
                record.task_name = current_task.name
                record.task_id = current_task.request.id
        return True


class PersonnummerMaskingJsonFormatter(JsonFormatter):
    """One JSON object a line, with every personnummer in the whole line (message, arguments, traceback) masked
    as the audit log masks it (19121212-****)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal_identity_numbers_in(super().format(record))


class PersonnummerMaskingFormatter(logging.Formatter):
    """The same masking for plain text lines (development)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal_identity_numbers_in(super().format(record))


JSON_FIELDS = "{asctime}{levelname}{name}{message}"


def logging_config(*, level: str, json: bool) -> dict:
    """settings.LOGGING: everything to standard error (the container's log), through the request filter and the
    masking formatter; JSON in production."""
    if json:
        formatter = {
            "()": PersonnummerMaskingJsonFormatter,
            "fmt": JSON_FIELDS,
            "style": "{",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
    else:
        formatter = {
            "()": PersonnummerMaskingFormatter,
            "fmt": "{asctime} {levelname} {name} {message}",
            "style": "{",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": RequestContextFilter}},
        "formatters": {"portal": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "filters": ["request_context"], "formatter": "portal"}
        },
        "root": {"handlers": ["console"], "level": level},
    }
