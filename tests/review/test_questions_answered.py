"""`Claim.questions_answered`, which the database keeps from the claim's questions (review migration 0004): what
"Besvarad" (review.selectors.question_answered) and the start page's "Besvarade frågor att granska" read. It must
say, after every write of the questions however made, what the questions themselves say."""

import io
import os

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from psycopg import sql

from claims.models import OPEN_STATES, Claim, ClaimState
from review import services
from review.models import ClaimQuestion
from review.selectors import question_answered
from tests.claims.factories import ClaimFactory
from tests.clinics.factories import ClinicFactory, UserFactory

from .factories import ClaimQuestionFactory


@pytest.fixture
def clinic(db):
    return ClinicFactory()


@pytest.fixture
def coordinator(db):
    return UserFactory()


def _flag(claim: Claim) -> bool:
    return Claim.objects.values_list("questions_answered", flat=True).get(pk=claim.pk)


def _from_the_questions():
    """Besvarad as the questions say it, read the long way: one answered and none waiting, the claim open."""
    questions = ClaimQuestion.objects.filter(claim=OuterRef("pk"))
    return set(
        Claim.objects.filter(
            Exists(questions.filter(answered_at__isnull=False)),
            ~Exists(questions.filter(answered_at__isnull=True)),
            state__in=OPEN_STATES,
        ).values_list("pk", flat=True)
    )


def _answer(question: ClaimQuestion, text: str = "Tand 36.") -> None:
    services.claim_question_answer(actor=question.claim.created_by, question=question, answer=text)


def test_asked_answered_asked_again_and_answered_through_the_services(clinic, coordinator):
    claim = ClaimFactory(invoice__clinic=clinic, state=ClaimState.RECEIVED)
    assert _flag(claim) is False  # no question: not Besvarad

    first = services.claim_question_ask(actor=coordinator, claim=claim, question="Vilken tand?")
    assert _flag(claim) is False  # waits for the clinic
    _answer(first)
    assert _flag(claim) is True
    second = services.claim_question_ask(actor=coordinator, claim=claim, question="Och röntgen?")
    assert _flag(claim) is False  # one answered, one waiting
    _answer(second, "Ja, bifogad.")
    assert _flag(claim) is True
    assert set(Claim.objects.filter(question_answered()).values_list("pk", flat=True)) == {claim.pk}


def test_every_write_of_the_questions_keeps_it_and_one_statement_may_change_many_claims(clinic, coordinator):
    claims = [ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW) for _ in range(4)]
    one, two, three, four = claims
    # One INSERT of several claims' questions (the trigger runs once per statement).
    ClaimQuestion.objects.bulk_create(
        ClaimQuestion(claim=claim, question="Vilken tand?", asked_by=coordinator) for claim in (one, two, three)
    )
    now = timezone.now()
    answered = {"answer": "Tand 36.", "answered_by": coordinator, "answered_at": now}
    ClaimQuestion.objects.bulk_create(
        [ClaimQuestion(claim=four, question="Vilken tand?", asked_by=coordinator, **answered)]
    )
    assert [_flag(claim) for claim in claims] == [False, False, False, True]
    assert _from_the_questions() == {four.pk}

    # One UPDATE answering two claims' questions.
    ClaimQuestion.objects.filter(claim__in=[one, two]).update(**answered)
    assert [_flag(claim) for claim in claims] == [True, True, False, True]
    # An answer taken back (by hand in the database) makes it wait again.
    ClaimQuestion.objects.filter(claim=two).update(answer="", answered_by=None, answered_at=None)
    assert _flag(two) is False
    # A question moved to another claim changes both.
    ClaimQuestion.objects.filter(claim=four).update(claim=three)
    assert (_flag(three), _flag(four)) == (False, False)
    # The waiting question removed: the answered one left decides; all removed: none.
    ClaimQuestion.objects.filter(claim=three, answered_at__isnull=True).delete()
    assert _flag(three) is True
    ClaimQuestion.objects.filter(claim=three).delete()
    assert _flag(three) is False
    # A change that is not an answer (the question's wording) leaves it as it was.
    ClaimQuestion.objects.filter(claim=one).update(question="Vilken tand, och vilken yta?")
    assert _flag(one) is True

    assert _from_the_questions() == {one.pk}
    assert set(Claim.objects.filter(question_answered()).values_list("pk", flat=True)) == {one.pk}


def test_a_closed_claim_keeps_its_answered_questions_out_of_besvarad(clinic, coordinator):
    claim = ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW)
    ClaimQuestionFactory(claim=claim, answer="Tand 36.", answered_at=timezone.now(), answered_by=coordinator)
    assert Claim.objects.filter(question_answered()).exists()
    Claim.objects.filter(pk=claim.pk).update(state=ClaimState.APPROVED)
    assert _flag(claim) is True  # the questions' state, whatever the claim's
    assert not Claim.objects.filter(question_answered()).exists()


def test_the_recount_writes_it_again_from_the_questions(clinic, coordinator):
    """After a load with the triggers off (bench/scale_fill.py), or a column set wrong by hand."""
    answered = ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW)
    waiting = ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW)
    bare = ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW)
    ClaimQuestionFactory(claim=answered, answer="Tand 36.", answered_at=timezone.now(), answered_by=coordinator)
    ClaimQuestionFactory(claim=waiting)
    Claim.objects.filter(pk=answered.pk).update(questions_answered=False)
    Claim.objects.filter(pk__in=[waiting.pk, bare.pk]).update(questions_answered=True)

    services.claim_questions_answered_recount()

    assert (_flag(answered), _flag(waiting), _flag(bare)) == (True, False, False)


def test_the_regions_count_reads_the_small_index_of_the_open_answered_claims(clinic, coordinator):
    claim = ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW)
    ClaimQuestionFactory(claim=claim, answer="Tand 36.", answered_at=timezone.now(), answered_by=coordinator)
    sql, params = (
        Claim.objects.of_region(clinic.region).filter(question_answered()).values("pk").query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "claim_questions_answered_open" in plan


def test_the_portals_database_role_keeps_it_when_a_question_is_answered(clinic, coordinator):
    """The web workers run as the app role (portal.db_roles), not the tables' owner: the trigger's function and its
    update of the claim are theirs to run."""
    role = f"tandportal_app_questions_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    call_command("db_grant_app_role", role, stdout=io.StringIO())
    claim = ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW)
    question = ClaimQuestionFactory(claim=claim)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        ClaimQuestion.objects.filter(pk=question.pk).update(
            answer="Tand 36.", answered_by=coordinator, answered_at=timezone.now()
        )
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == role
    assert _flag(claim) is True


def test_a_claim_saved_whole_from_before_the_answer_does_not_write_the_flag_back(clinic, coordinator):
    claim = ClaimFactory(invoice__clinic=clinic, state=ClaimState.UNDER_REVIEW)
    question = services.claim_question_ask(actor=coordinator, claim=claim, question="Vilken tand?")
    stale = Claim.objects.get(pk=claim.pk)  # read while the question waits: questions_answered False
    _answer(question)
    stale.comment = "Ändrad"
    stale.save()
    assert _flag(claim) is True
    assert Claim.objects.get(pk=claim.pk).comment == "Ändrad"
