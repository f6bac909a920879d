"""Claim history as data: each kind put into words in the reader's language, and the old stored texts mapped.

The pages showing history in both languages are tested in tests/review/test_views.py.
"""

import importlib
import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from claims.models import ClaimEvent, ClaimEventKind, claim_event_text, review_rule_text

from .factories import ClaimFactory

migration = importlib.import_module("claims.migrations.0004_claim_event_kind")

# As it was stored (a space before "kr"); read today, the amount has no-break spaces only (portal.money).
RULES_TEXT = (
    "Granskningsregel: Belopp över 10\u00a0000 kr; Åtgärd 825, 825S; Stickprov 2,5 %; "
    "Klinik 31 Folktandvården Demostaden"
)


def read_today(text: str) -> str:
    return re.sub(r"(\d) kr\b", "\\1\u00a0kr", text)


RULES = [
    {"kind": "amount_above", "amount_limit": 1_000_000},
    {"kind": "codes", "codes": ["825", "825S"]},
    {"kind": "sample", "sample_percent": "2.5"},
    {"kind": "clinic", "clinic_number": "31", "clinic_name": "Folktandvården Demostaden"},
]


@pytest.fixture(autouse=True)
def _back_to_default_language():
    yield
    translation.deactivate()


# Put into words ---------------------------------------------------------------------------------------------

EVENTS = [
    # kind, params, Swedish, English
    (
        ClaimEventKind.SCHEDULED_FOR_PAYOUT,
        {"date": "2026-12-07"},
        "Godkänd för utbetalning 2026-12-07",
        "Approved for payment 2026-12-07",
    ),
    (
        ClaimEventKind.RULES_MATCHED,
        {"rules": RULES},
        read_today(RULES_TEXT),
        (
            "Review rule: Amount above 10\u00a0000\u00a0kr; Treatment 825, 825S; Random sample 2,5 %; "
            "Clinic 31 Folktandvården Demostaden"
        ),
    ),
    (
        ClaimEventKind.RULES_MATCHED,
        {"rules": [{"kind": "possible_duplicate"}, {"kind": "fhb_near_limit", "prior_assessment_share": 90}]},
        "Granskningsregel: Möjlig dubblett; FHB nära gränsen (90 % av godkänt belopp)",
        "Review rule: Possible duplicate; Prior assessment near its limit (90 % of the approved amount)",
    ),
    (
        ClaimEventKind.PARTLY_CREDITED,
        {"reference": "777_Kredit"},
        "Delvis krediterad: 777_Kredit",
        "Partly credited: 777_Kredit",
    ),
    (
        ClaimEventKind.QUESTION_ASKED,
        {"question": "Vilken tand?"},
        "Fråga till kliniken: Vilken tand?",
        "Question to the clinic: Vilken tand?",
    ),
    (
        ClaimEventKind.QUESTION_ANSWERED,
        {"answer": "Tand 36."},
        "Klinikens svar: Tand 36.",
        "The clinic's answer: Tand 36.",
    ),
    (
        ClaimEventKind.PAYOUT_CANCELLED,
        {"date": "2026-12-07"},
        "Utbetalningskörningen 2026-12-07 makulerades",
        "The payout run of 2026-12-07 was cancelled",
    ),
    # What people wrote stays as they wrote it.
    (ClaimEventKind.VOIDED, {"reason": "Dubbelregistrerad."}, "Dubbelregistrerad.", "Dubbelregistrerad."),
    (ClaimEventKind.CREDITED, {"reference": "777_Kredit"}, "777_Kredit", "777_Kredit"),
    (ClaimEventKind.NOTE, {"text": "Gammal text."}, "Gammal text.", "Gammal text."),
    # The state column says it all.
    (ClaimEventKind.RECEIVED, {}, "", ""),
    (ClaimEventKind.APPROVED, {}, "", ""),
    (ClaimEventKind.PAID, {}, "", ""),
]


@pytest.mark.parametrize("kind,params,swedish,english", EVENTS)
def test_an_event_is_put_into_words_in_the_language_active_when_it_is_read(kind, params, swedish, english):
    event = ClaimEvent(kind=kind, params=params)
    assert event.text == swedish
    with translation.override("en"):
        assert event.text == english
    assert event.text == swedish


def test_every_kind_is_put_into_words_or_left_to_the_state():
    left_to_the_state = {ClaimEventKind.REVIEW_STARTED, ClaimEventKind.DELETED}
    assert {kind for kind, *_ in EVENTS} | left_to_the_state == set(ClaimEventKind.values)


def test_a_rule_that_could_not_be_read_back_is_shown_as_it_was_stored():
    assert review_rule_text({"text": "Belopp över ett tusen"}) == "Belopp över ett tusen"


# The migration of stored texts ------------------------------------------------------------------------------

STORED = [
    # reason, from, to → kind, params
    ("", "", "received", "received", {}),
    ("", "received", "under_review", "review_started", {}),
    ("", "under_review", "approved", "approved", {}),
    ("", "approved", "paid", "paid", {}),
    ("", "received", "deleted", "deleted", {}),
    ("Godkänd för utbetalning 2026-12-07", "received", "approved", "scheduled_for_payout", {"date": "2026-12-07"}),
    ("Approved for payment 2026-12-07", "approved", "approved", "scheduled_for_payout", {"date": "2026-12-07"}),
    ("Dubbelregistrerad.", "approved", "voided", "voided", {"reason": "Dubbelregistrerad."}),
    # A coordinator's reason is theirs, whatever it looks like.
    ("Fråga till kliniken: fel", "received", "voided", "voided", {"reason": "Fråga till kliniken: fel"}),
    ("777_Kredit", "paid", "credited", "credited", {"reference": "777_Kredit"}),
    ("Delvis krediterad: 777_Kredit", "paid", "paid", "partly_credited", {"reference": "777_Kredit"}),
    ("Partly credited: 777_Kredit-2", "paid", "paid", "partly_credited", {"reference": "777_Kredit-2"}),
    (
        "Fråga till kliniken: Vilken tand?\nOch när?",
        "under_review",
        "under_review",
        "question_asked",
        {"question": "Vilken tand?\nOch när?"},
    ),
    ("Klinikens svar: Tand 36.", "under_review", "under_review", "question_answered", {"answer": "Tand 36."}),
    (RULES_TEXT, "received", "under_review", "rules_matched", {"rules": RULES}),
    (
        "Granskningsregel: Belopp över 1\u00a0500,50 kr",
        "received",
        "under_review",
        "rules_matched",
        {"rules": [{"kind": "amount_above", "amount_limit": 150_050}]},
    ),
    ("Granskningsregel: Något nytt", "received", "under_review", "rules_matched", {"rules": [{"text": "Något nytt"}]}),
    # Nothing known: kept whole.
    ("Rättad av supporten.", "paid", "paid", "note", {"text": "Rättad av supporten."}),
    ("Approved for payment someday", "received", "approved", "note", {"text": "Approved for payment someday"}),
    ("Klinikens svar: ja", "received", "deleted", "note", {"text": "Klinikens svar: ja"}),
    ("", "paid", "paid", "note", {"text": ""}),
]


@pytest.mark.parametrize("reason,from_state,to_state,kind,params", STORED)
def test_each_stored_text_becomes_a_kind_and_its_parameters(reason, from_state, to_state, kind, params):
    assert migration.event_kind_and_params(reason, from_state, to_state) == (kind, params)


# Stored in English, these read in the reader's language from now on.
STORED_IN_SWEDISH = [case for case in STORED if not case[0].startswith(("Approved for payment 2", "Partly"))]


@pytest.mark.parametrize("reason,from_state,to_state,kind,params", STORED_IN_SWEDISH)
def test_a_swedish_text_reads_the_same_after_the_migration_and_comes_back_going_back(
    reason, from_state, to_state, kind, params
):
    assert claim_event_text(kind, params) == read_today(reason)
    assert migration.reason_of(kind, params) == reason


@pytest.mark.slow  # the schema migrated back years of migrations and forward again: 5–15 s
@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_stored_rows_and_back():
    """On the database: every row of the old history gets its kind and parameters; going back, its text."""
    claim_id = ClaimFactory().pk
    before, after = [("claims", "0003_invoice_file_sending")], [("claims", "0004_claim_event_kind")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old_event = MigrationExecutor(connection).loader.project_state(before).apps.get_model("claims", "ClaimEvent")
        stored = {
            old_event.objects.create(claim_id=claim_id, from_state=from_state, to_state=to_state, reason=reason).pk: (
                kind,
                params,
            )
            for reason, from_state, to_state, kind, params in STORED
        }
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        converted = {e.pk: (e.kind, e.params) for e in ClaimEvent.objects.filter(pk__in=stored)}
        assert converted == stored

        MigrationExecutor(connection).migrate(before)
        reasons = dict(old_event.objects.filter(pk__in=stored).values_list("pk", "reason"))
        assert [reasons[pk] for pk in stored] == [migration.reason_of(kind, params) for kind, params in stored.values()]
    finally:
        # Forward to the latest migrations again, not only to 0004: later tests need today's tables.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
