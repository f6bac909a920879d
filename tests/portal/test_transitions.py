"""The transition primitive, and every state machine's table walked move by move through its mover.

For each table, every (from, to) pair: an allowed move is saved, every other is refused with code "state" and
a message naming both states, and the row stays where it was. The claims' table is walked through the claims'
bulk mover in tests/claims/test_lifecycle.py, and through its services there and in tests/review.
"""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone, translation

from claims.models import INVOICE_FILE_TRANSITIONS, InvoiceFileState, InvoiceFileUpload
from eligibility.models import (
    CERTIFICATE_IMPORT_TRANSITIONS,
    PRIOR_ASSESSMENT_TRANSITIONS,
    CertificateImport,
    CertificateImportState,
    PriorAssessment,
    PriorAssessmentState,
)
from payouts.models import PAYOUT_RUN_TRANSITIONS, PayoutRun, PayoutRunState
from portal.transitions import Transitions
from tests.clinics.factories import ClinicFactory, UserFactory
from tests.eligibility.factories import PriorAssessmentFactory


class Light(models.TextChoices):
    RED = "red", "Rött"
    GREEN = "green", "Grönt"
    YELLOW = "yellow", "Gult"


LIGHTS = Transitions(
    {Light.RED: {Light.GREEN}, Light.GREEN: {Light.YELLOW}, Light.YELLOW: {Light.RED, Light.YELLOW}},
    labels=Light,
)


@pytest.fixture(autouse=True)
def _back_to_default_language():
    yield
    translation.deactivate()


# The primitive ----------------------------------------------------------------------------------------------


def test_the_table_answers_may_x_become_y_and_reads_as_a_mapping():
    assert LIGHTS.allows(Light.RED, Light.GREEN)
    assert not LIGHTS.allows(Light.RED, Light.YELLOW)
    assert not LIGHTS.allows("blue", Light.RED)
    assert LIGHTS[Light.YELLOW] == {Light.RED, Light.YELLOW}
    assert set(LIGHTS) == set(Light.values) and len(LIGHTS) == 3
    assert LIGHTS.sources(Light.YELLOW) == {Light.GREEN, Light.YELLOW}


@pytest.mark.parametrize(
    "table",
    [
        {Light.RED: {Light.GREEN}, Light.GREEN: set()},  # yellow left out
        {Light.RED: {"blue"}, Light.GREEN: set(), Light.YELLOW: set()},  # a state that does not exist
    ],
)
def test_a_table_must_name_every_state_and_only_those(table):
    with pytest.raises(ValueError, match="every state of Light"):
        Transitions(table, labels=Light)


def test_a_refused_move_says_both_states_in_swedish_by_default():
    with pytest.raises(ValidationError) as refused:
        LIGHTS.check(Light.RED, Light.YELLOW)
    assert refused.value.code == "state"
    assert refused.value.messages == ["Status rött kan inte bli gult."]
    LIGHTS.check(Light.RED, Light.GREEN)  # allowed: nothing raised


def test_the_refusal_is_in_the_readers_language():
    translation.activate("en")
    assert LIGHTS.refusal(Light.RED, Light.YELLOW).messages == ["The status rött cannot be changed to gult."]


def test_a_machine_words_its_own_refusal_and_its_parameters_are_read_only_when_refusing():
    asked = []

    def params():
        asked.append(True)
        return {"name": "Lampan"}

    lamp = Transitions(LIGHTS, labels=Light, refusal="%(name)s är %(state)s, inte %(target)s.", lower=False)
    lamp.check(Light.RED, Light.GREEN, params)
    assert asked == []
    with pytest.raises(ValidationError) as refused:
        lamp.check(Light.RED, Light.YELLOW, params)
    assert refused.value.messages == ["Lampan är Rött, inte Gult."]


def test_a_guarded_update_moves_only_rows_that_may_move(db):
    region = ClinicFactory().region
    imports = {state: _certificate_import(region, state) for state in CertificateImportState.values}
    moved = CERTIFICATE_IMPORT_TRANSITIONS.update(
        CertificateImport.objects.filter(pk__in=[i.pk for i in imports.values()]),
        CertificateImportState.FAILED,
        failure_message="Borta.",
    )
    assert moved == 2
    states = dict(CertificateImport.objects.values_list("pk", "state"))
    assert {state: states[i.pk] for state, i in imports.items()} == {
        CertificateImportState.QUEUED: CertificateImportState.FAILED,
        CertificateImportState.RUNNING: CertificateImportState.FAILED,
        CertificateImportState.DONE: CertificateImportState.DONE,
        CertificateImportState.FAILED: CertificateImportState.FAILED,
    }


def test_a_guarded_update_from_a_state_the_table_forbids_is_a_programming_error(db):
    with pytest.raises(ValueError, match="may not become"):
        CERTIFICATE_IMPORT_TRANSITIONS.update(
            CertificateImport.objects.all(), CertificateImportState.FAILED, sources=[CertificateImportState.DONE]
        )


# Every table, every pair, through its mover -----------------------------------------------------------------


def _certificate_import(region, state: str) -> CertificateImport:
    return CertificateImport.objects.create(
        region=region,
        uploaded_by=UserFactory(),
        file="certificate-imports/intyg.csv",
        original_name="intyg.csv",
        sha256="0" * 64,
        state=state,
    )


def _invoice_file(state: str) -> InvoiceFileUpload:
    return InvoiceFileUpload.objects.create(
        clinic=ClinicFactory(),
        uploaded_by=UserFactory(),
        file="invoice-files/faktura.xml",
        original_name="faktura.xml",
        sha256="0" * 64,
        state=state,
    )


def _payout_run(state: str) -> PayoutRun:
    return PayoutRun.objects.create(
        region=ClinicFactory().region, payout_date=datetime.date(2026, 12, 7), created_by=UserFactory(), state=state
    )


def _prior_assessment(state: str) -> PriorAssessment:
    # Every state's own fields filled in, so that the database's checks hold whichever state the row reaches.
    today = timezone.localdate()
    return PriorAssessmentFactory(
        state=state,
        valid_until=today + datetime.timedelta(days=100),
        information_deadline=today + datetime.timedelta(days=10),
    )


MACHINES = {
    "invoice file": (INVOICE_FILE_TRANSITIONS, _invoice_file),
    "certificate import": (
        CERTIFICATE_IMPORT_TRANSITIONS,
        lambda state: _certificate_import(ClinicFactory().region, state),
    ),
    "payout run": (PAYOUT_RUN_TRANSITIONS, _payout_run),
    "prior assessment": (PRIOR_ASSESSMENT_TRANSITIONS, _prior_assessment),
}
PAIRS = [
    pytest.param(name, start, target, id=f"{name}: {start}→{target}")
    for name, (table, _make) in MACHINES.items()
    for start in table.labels.values
    for target in table.labels.values
]


@pytest.mark.parametrize("name,start,target", PAIRS)
def test_every_move_of_every_table(db, name, start, target):
    table, make = MACHINES[name]
    row = make(start)
    params = {"number": "FHB-1", "decided_by": ""}

    if table.allows(start, target):
        table.move(row, target, params=params)
        row.refresh_from_db()
        assert row.state == target
    else:
        with pytest.raises(ValidationError) as refused:
            table.move(row, target, params=params)
        assert refused.value.code == "state"
        if name == "prior assessment":  # refused mostly because someone else got there first
            expected = f"Förhandsbedömningen FHB-1 har redan status {table.labels(start).label}."
        else:
            expected = f"Status {table.labels(start).label.lower()} kan inte bli {table.labels(target).label.lower()}."
        assert refused.value.messages == [expected]
        row.refresh_from_db()
        assert row.state == start


def test_the_tables_say_what_the_services_rely_on():
    # A check redelivered after a lost worker starts again; a failed sending goes back to be sent again.
    assert INVOICE_FILE_TRANSITIONS.allows(InvoiceFileState.RUNNING, InvoiceFileState.RUNNING)
    assert INVOICE_FILE_TRANSITIONS.allows(InvoiceFileState.SENDING, InvoiceFileState.CHECKED)
    assert INVOICE_FILE_TRANSITIONS.sources(InvoiceFileState.FAILED) == {
        InvoiceFileState.QUEUED,
        InvoiceFileState.RUNNING,
    }
    for final in (
        InvoiceFileState.SENT,
        InvoiceFileState.REJECTED,
        InvoiceFileState.DISCARDED,
        InvoiceFileState.FAILED,
    ):
        assert INVOICE_FILE_TRANSITIONS[final] == frozenset()
    assert CERTIFICATE_IMPORT_TRANSITIONS.sources(CertificateImportState.FAILED) == {
        CertificateImportState.QUEUED,
        CertificateImportState.RUNNING,
    }
    # A planned run is paid, or cancelled (until its file is downloaded); a second coordinator confirms one
    # awaiting four eyes; paid and cancelled are final.
    assert PAYOUT_RUN_TRANSITIONS[PayoutRunState.PLANNED] == {PayoutRunState.PAID, PayoutRunState.CANCELLED}
    assert PAYOUT_RUN_TRANSITIONS[PayoutRunState.AWAITING_SECOND] == {
        PayoutRunState.PLANNED,
        PayoutRunState.CANCELLED,
    }
    assert PAYOUT_RUN_TRANSITIONS[PayoutRunState.PAID] == PAYOUT_RUN_TRANSITIONS[PayoutRunState.CANCELLED] == set()
    assert PRIOR_ASSESSMENT_TRANSITIONS[PriorAssessmentState.WRITTEN_OFF] == frozenset()
