"""Audit actions come from a registry of enums, one per app: an unknown action is refused, each has a label in
Swedish and English, and no action is written as a free string anywhere in the code."""

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.utils import translation

from claims.audit import ClaimsAudit
from clinics.audit import ClinicsAudit
from portal import audit
from portal.audit import (
    PortalAudit,
    audit_action_label,
    audit_actions,
    audit_actions_register,
    audit_record,
    audit_record_many,
)
from portal.models import AuditEvent
from tests import codebase
from tests.clinics.factories import ClinicFactory
from tests.project_apps import project_app_configs

BASE_DIR = Path(settings.BASE_DIR)
EN_PO = BASE_DIR / "locale" / "en" / "LC_MESSAGES" / "django.po"
NOT_SCANNED = {".venv", "var", "tests", "bench", "migrations", "node_modules", "__pycache__", ".git"}
ACTION_SHAPE = re.compile(r"[a-z_]+\.[a-z_]+\.[a-z_]+")


@pytest.fixture
def registry(monkeypatch):
    """The registry as it is, restored after the test: enums registered here do not leak into other tests."""
    monkeypatch.setattr(audit, "_ACTIONS", dict(audit._ACTIONS))


# Refusing what is not registered -------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["claims.claim.aproved", "clinics.clinic.imported", "Claims.claim.approved", ""])
def test_audit_record_refuses_an_action_that_is_not_registered(db, action):
    clinic = ClinicFactory()
    with transaction.atomic(), pytest.raises(ValueError, match="is not registered"):
        audit_record(actor=None, action=action, obj=clinic)
    with transaction.atomic(), pytest.raises(ValueError, match="is not registered"):
        audit_record_many(actor=None, action=action, changes=[(clinic, None, {"name": clinic.name})])
    assert not AuditEvent.objects.filter(object_type="clinics.clinic", object_id=str(clinic.pk)).exists()


def test_an_enum_member_is_stored_as_its_plain_value_so_older_rows_keep_their_meaning(db):
    clinic = ClinicFactory()
    with transaction.atomic():
        event = audit_record(actor=None, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic)
        audit_record_many(actor=None, action=ClinicsAudit.CLINIC_UPDATED, changes=[(clinic, None, None)])
    stored = AuditEvent.objects.filter(object_type="clinics.clinic", object_id=str(clinic.pk))
    assert list(stored.values_list("action", flat=True)) == ["clinics.clinic.updated"] * 2
    assert type(AuditEvent.objects.get(pk=event.pk).action) is str


@pytest.mark.parametrize(
    "value",
    ["updated", "clinic.updated", "clinics_clinic_updated", "clinics..updated", ".clinic.updated", "a.b.c.d"],
)
def test_registering_an_action_that_is_not_app_object_verb_is_refused(registry, value):
    with pytest.raises(ImproperlyConfigured, match="namespaced"):

        @audit_actions_register
        class BadAudit(models.TextChoices):
            FINE = "tests.thing.done", "Klart"
            BAD = value, "Fel"

    # All or nothing: the good member of the refused enum is not registered either.
    assert "tests.thing.done" not in audit_actions()


def test_two_enums_cannot_register_the_same_action(registry):
    with pytest.raises(ImproperlyConfigured, match="registered twice"):

        @audit_actions_register
        class CopyAudit(models.TextChoices):
            APPROVED = "claims.claim.approved", "Godkänd"

    assert audit_actions()["claims.claim.approved"] is ClaimsAudit.CLAIM_APPROVED


def test_a_registered_enum_is_accepted_by_audit_record(db, registry):
    @audit_actions_register
    class ExtraAudit(models.TextChoices):
        CLINIC_CHECKED = "clinics.clinic.checked", "Klinik kontrollerad"

    clinic = ClinicFactory()
    with transaction.atomic():
        event = audit_record(actor=None, action=ExtraAudit.CLINIC_CHECKED, obj=clinic)
    assert AuditEvent.objects.get(pk=event.pk).action == "clinics.clinic.checked"


# Labels in the reader's language ---------------------------------------------------------------------------


def test_the_label_of_an_action_is_in_the_readers_language():
    with translation.override("sv"):
        assert audit_action_label("claims.claim.approved") == "Räkning godkänd för utbetalning"
    with translation.override("en"):
        assert audit_action_label("claims.claim.approved") == "Claim approved for payment"
        assert audit_action_label(PortalAudit.SERVICE_WINDOW_SCHEDULED) == "Service window scheduled"


def test_a_stored_action_no_longer_registered_is_shown_as_stored():
    assert audit_action_label("claims.claim.renamed_long_ago") == "claims.claim.renamed_long_ago"


# Every action of the code base ------------------------------------------------------------------------------


def _source_files() -> list[Path]:
    """The project's own Python code; tests, benchmarks and migrations hold no audit calls."""
    return [
        path
        for path in codebase.python_files(BASE_DIR)
        if not NOT_SCANNED.intersection(path.relative_to(BASE_DIR).parts[:-1])
    ]


def _po_translations() -> dict[str, str]:
    return {entry.msgid: entry.msgstr for entry in polib.pofile(str(EN_PO)) if not entry.obsolete}


def test_every_action_enum_of_every_app_is_registered():
    """An app's audit.py enum without the decorator would be refused at its first use."""
    found = {}
    for config in project_app_configs():
        if importlib.util.find_spec(f"{config.name}.audit") is None:
            continue
        module = importlib.import_module(f"{config.name}.audit")
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, models.Choices) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    assert set(found) >= {
        "claims.audit.ClaimsAudit",
        "clinics.audit.ClinicsAudit",
        "eligibility.audit.EligibilityAudit",
        "payouts.audit.PayoutsAudit",
        "portal.audit.PortalAudit",
        "review.audit.ReviewAudit",
    }
    registered = audit_actions()
    for enum in found.values():
        for member in enum:
            assert registered.get(member.value) is member, f"{enum.__name__} is not @audit_actions_register-ed"


def test_every_registered_action_names_its_app_and_has_a_swedish_label_and_an_english_translation():
    app_labels = {config.label for config in project_app_configs()}
    translations = _po_translations()
    for value, member in audit_actions().items():
        assert value.split(".")[0] in app_labels, value
        with translation.override("sv"):
            swedish = str(member.label)  # the source language: the msgid itself
        assert swedish and swedish != value, f"{value}: no Swedish label"
        assert translations.get(swedish), f"{value}: {swedish!r} has no English translation in {EN_PO.name}"
        with translation.override("en"):
            assert str(member.label) == translations[swedish]


def _string_literals(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node


def _is_module_path(text: str) -> bool:
    """'payouts.tasks.mark_payouts_paid', 'portal.settings.local': dotted names of code, not audit actions."""
    try:
        return importlib.util.find_spec(text.rsplit(".", 1)[0]) is not None
    except ModuleNotFoundError:
        return False


def test_no_action_is_written_as_a_string_outside_its_enum():
    """Every action in the code is an enum member: a free string (or a typo of one) is found here."""
    app_labels = {config.label for config in project_app_configs()}
    enum_files = {BASE_DIR / f"{config.name}/audit.py" for config in project_app_configs()}
    free = []
    for path in _source_files():
        if path in enum_files:
            continue
        for node in _string_literals(codebase.tree(path)):
            text = node.value
            if ACTION_SHAPE.fullmatch(text) and text.split(".")[0] in app_labels and not _is_module_path(text):
                free.append(f"{path.relative_to(BASE_DIR)}:{node.lineno}: {text!r}")
    assert free == [], "use the app's audit enum (e.g. ClaimsAudit.CLAIM_APPROVED): " + "; ".join(free)


def test_every_audit_call_and_every_enum_member_named_in_the_code_is_registered():
    """The calls pass no literal, and `XAudit.MEMBER` names a member that exists (caught here even on a path
    no other test runs, where Python would only fail at run time)."""
    members = {}
    for member in audit_actions().values():
        members.setdefault(type(member).__name__, set()).add(member.name)
    literal_calls, unknown_members, calls = [], [], 0
    for path in _source_files():
        for node in ast.walk(codebase.tree(path)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"audit_record", "audit_record_many"}:
                calls += 1
                action = next(keyword.value for keyword in node.keywords if keyword.arg == "action")
                if isinstance(action, ast.Constant | ast.JoinedStr):
                    literal_calls.append(f"{path.relative_to(BASE_DIR)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in members
                and node.attr.isupper()
                and node.attr not in members[node.value.id]
            ):
                unknown_members.append(f"{path.relative_to(BASE_DIR)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert calls > 30  # the scan sees the services' calls (claims move through claims_move: one call for many)
    assert literal_calls == []
    assert unknown_members == []
