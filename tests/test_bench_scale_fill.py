"""bench/scale_fill.py at a tiny size: every claim state, consistent money and links, and an audit chain that holds.

The fill writes with foreign-key triggers off (session_replication_role), so the links are checked here by query.
"""

import datetime
import importlib.util
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from claims.models import Claim, ClaimState
from reports.models import ClaimMonthFigure

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.date(2026, 12, 7)


def _scale_fill():
    spec = importlib.util.spec_from_file_location("bench_scale_fill", ROOT / "bench" / "scale_fill.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# Foreign keys the fill writes: (table, column, referenced table).
LINKS = (
    ("claims_claim", "invoice_id", "claims_invoice"),
    ("claims_claim", "patient_id", "eligibility_patient"),
    ("claims_claim", "certificate_id", "eligibility_certificate"),
    ("claims_claim", "clinic_id", "clinics_clinic"),
    ("claims_claim", "created_by_id", "clinics_user"),
    ("claims_claim", "patient_category_id", "clinics_patientcategory"),
    ("claims_claimline", "claim_id", "claims_claim"),
    ("claims_claimline", "tariff_row_id", "claims_tariffrow"),
    ("claims_claimevent", "claim_id", "claims_claim"),
    ("claims_creditline", "claim_line_id", "claims_claimline"),
    ("claims_creditline", "credit_invoice_id", "claims_creditinvoice"),
    ("review_claimquestion", "claim_id", "claims_claim"),
    ("payouts_payoutclaim", "claim_id", "claims_claim"),
    ("payouts_payoutclaim", "payout_invoice_id", "payouts_payoutinvoice"),
    ("payouts_payoutinvoice", "payment_id", "payouts_payoutpayment"),
    ("payouts_payoutinvoice", "invoice_id", "claims_invoice"),
    ("payouts_payoutpayment", "run_id", "payouts_payoutrun"),
    ("portal_accesslogentry", "user_id", "clinics_user"),
    ("portal_auditevent", "actor_id", "clinics_user"),
)


def _one(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.mark.slow
@pytest.mark.django_db
def test_a_tiny_fill_has_every_state_consistent_money_and_a_whole_audit_chain(capsys):
    counts = _scale_fill().scale_fill(claims=2000, today=TODAY, log=lambda *args: None)

    assert counts["claims_claim"] == 2000
    states = {state: Claim.objects.filter(state=state).count() for state in ClaimState.values}
    assert all(states[state] > 0 for state in ClaimState.values), states
    # Mostly paid, about a tenth not yet in a run; 3.5 lines and 5 access-log rows per claim.
    assert states[ClaimState.PAID] > 1000
    assert 100 < states[ClaimState.RECEIVED] + states[ClaimState.UNDER_REVIEW] < 600
    assert 3.2 < counts["claims_claimline"] / 2000 < 3.8
    assert counts["portal_accesslogentry"] == 10_000
    assert counts["eligibility_patient"] == 400
    assert counts["claims_invoice"] == 310
    assert _one("SELECT count(*) FROM review_claimquestion") > 0
    # Both of the demo's regions have their clinics and claims (Dalarna has no care models).
    for region in ("vg", "dalarna"):
        assert Claim.objects.filter(clinic__region__code=region, reference__startswith="R").count() > 300, region
    # One invoice of 1 % of the claims, at the demo biller's clinic 31.
    assert _one("SELECT max(n) FROM (SELECT count(*) n FROM claims_claim GROUP BY invoice_id) sizes") >= 20

    for table, column, referenced in LINKS:
        missing = _one(
            f"SELECT count(*) FROM {table} t LEFT JOIN {referenced} r ON r.id = t.{column} "
            f"WHERE t.{column} IS NOT NULL AND r.id IS NULL"
        )
        assert missing == 0, (table, column)
    # Money: a claim's total is its lines', a credit's its lines', a run's its payments' and its claims'.
    assert (
        _one(
            "SELECT count(*) FROM claims_claim c "
            "WHERE total <> (SELECT sum(amount) FROM claims_claimline WHERE claim_id = c.id)"
        )
        == 0
    )
    assert (
        _one(
            "SELECT count(*) FROM claims_creditinvoice c "
            "WHERE total <> (SELECT sum(amount) FROM claims_creditline WHERE credit_invoice_id = c.id)"
        )
        == 0
    )
    assert (
        _one(
            "SELECT count(*) FROM payouts_payoutrun r WHERE gross_total <> "
            "(SELECT coalesce(sum(gross), 0) FROM payouts_payoutpayment WHERE run_id = r.id) OR claim_count <> "
            "(SELECT count(*) FROM payouts_payoutclaim pc "
            "JOIN payouts_payoutinvoice pi ON pi.id = pc.payout_invoice_id "
            "JOIN payouts_payoutpayment pp ON pp.id = pi.payment_id WHERE pp.run_id = r.id)"
        )
        == 0
    )
    # Every paid or credited claim in a paid run, every approved one in a planned run, no other in any.
    assert (
        _one(
            "SELECT count(*) FROM claims_claim c LEFT JOIN payouts_payoutclaim pc ON pc.claim_id = c.id "
            "LEFT JOIN payouts_payoutinvoice pi ON pi.id = pc.payout_invoice_id "
            "LEFT JOIN payouts_payoutpayment pp ON pp.id = pi.payment_id "
            "LEFT JOIN payouts_payoutrun r ON r.id = pp.run_id "
            "WHERE c.reference LIKE 'R%' AND coalesce(r.state, '') <> CASE c.state WHEN 'paid' THEN 'paid' "
            "WHEN 'credited' THEN 'paid' WHEN 'approved' THEN 'planned' ELSE '' END"
        )
        == 0
    )
    # The start page's summaries count every claim filled (the COPY passes by their triggers: the fill builds them).
    figures = ClaimMonthFigure.objects.aggregate(claims=Sum("claims"), amount=Sum("amount"))
    assert figures["claims"] == Claim.objects.count()
    assert figures["amount"] == Claim.objects.aggregate(total=Sum("total"))["total"]
    # And each claim's questions_answered, which the questions' triggers keep (passed by too): the fill writes it.
    answered = _one(
        "SELECT count(*) FROM claims_claim c WHERE EXISTS (SELECT 1 FROM review_claimquestion q "
        "WHERE q.claim_id = c.id AND q.answered_at IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM review_claimquestion q "
        "WHERE q.claim_id = c.id AND q.answered_at IS NULL)"
    )
    assert answered > 0
    assert Claim.objects.filter(questions_answered=True).count() == answered
    # The logs' rows are in their months' partitions, as the daily log_partitions_ensure leaves them, none in the
    # DEFAULT one (where no month's index reaches them but a scan of every row).
    for log in ("portal_accesslogentry", "portal_auditevent"):
        assert _one(f"SELECT count(*) FROM {log}_default") == 0, log
        assert _one(f"SELECT count(*) FROM {log}") > 0, log
    # The identity sequences continue after the copied rows.
    Claim.objects.create(**{
        field: getattr(Claim.objects.get(reference="R0000001"), field)
        for field in ("invoice_id", "clinic_id", "patient_id", "support_form", "created_by_id", "total")
    }, reference="after-fill", patient_fee_total=0, state=ClaimState.RECEIVED)  # fmt: skip

    call_command("audit_verify")
    assert "kedja är hel" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_indexes_dropped_around_copy_come_back_on_every_partition_of_a_log():
    """A partitioned table's index reads "ON ONLY" the parent: made again as it reads, it was an invalid index of the
    parent alone, and every search of the access log at 1 M claims read the whole table."""
    fill = _scale_fill()
    with connection.cursor() as cursor:
        dropped = fill.indexes_drop(cursor, ("portal_accesslogentry",))
        assert "access_log_user_time" in {name for name, _definition in dropped}
        assert any(" ON ONLY " in definition for _name, definition in dropped)
        fill.indexes_make(cursor, dropped)
    assert _one("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0
    partitions = _one("SELECT count(*) FROM pg_inherits WHERE inhparent = 'portal_accesslogentry'::regclass")
    per_partition = _one(
        "SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid "
        "WHERE h.inhparent = 'portal_accesslogentry'::regclass "
        "AND pg_get_indexdef(i.indexrelid) LIKE '%(user_id, occurred_at)%'"
    )
    assert partitions > 1
    assert per_partition == partitions
