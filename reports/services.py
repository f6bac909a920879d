"""Writes of the reports: keeping the start page's summaries (`reports.models.ClaimMonthFigure`) short and right.

The triggers write the differences; these two only ever fold or rebuild them. Each is one SQL statement, so it
works from one snapshot: a claim's change committed meanwhile has its difference row either folded or counted
and left alone, never both.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction


def claim_month_figures_compact() -> int:
    """Fold every key's difference rows into one row (dropping keys that sum to nothing); returns the number of
    rows removed. Safe to run at any time and twice."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH keys AS (
                SELECT region_id, clinic_id, month, support_form, state FROM reports_claimmonthfigure
                GROUP BY region_id, clinic_id, month, support_form, state HAVING COUNT(*) > 1 OR SUM(claims) = 0
            ), folded AS (
                DELETE FROM reports_claimmonthfigure f USING keys k
                WHERE f.region_id = k.region_id AND f.clinic_id = k.clinic_id AND f.month = k.month
                  AND f.support_form = k.support_form AND f.state = k.state
                RETURNING f.region_id, f.clinic_id, f.month, f.support_form, f.state, f.amount, f.claims
            ), inserted AS (
                INSERT INTO reports_claimmonthfigure (region_id, clinic_id, month, support_form, state, amount, claims)
                SELECT region_id, clinic_id, month, support_form, state, SUM(amount), SUM(claims) FROM folded
                GROUP BY region_id, clinic_id, month, support_form, state HAVING SUM(claims) <> 0 OR SUM(amount) <> 0
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM folded) - (SELECT COUNT(*) FROM inserted)
            """
        )
        return cursor.fetchone()[0]


def claim_month_figures_recount() -> None:
    """Rebuild every figure from the claims (after a repair by hand, or to prove the triggers right)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            -- A data-modifying WITH runs whether or not it is read.
            WITH gone AS (DELETE FROM reports_claimmonthfigure RETURNING 1)
            INSERT INTO reports_claimmonthfigure (region_id, clinic_id, month, support_form, state, amount, claims)
            SELECT k.region_id, c.clinic_id,
                   (date_trunc('month', i.received_at AT TIME ZONE %s))::date, c.support_form, c.state,
                   SUM(c.total), COUNT(*)
            FROM claims_claim c
            JOIN claims_invoice i ON i.id = c.invoice_id
            JOIN clinics_clinic k ON k.id = c.clinic_id
            GROUP BY 1, 2, 3, 4, 5
            """,
            [settings.TIME_ZONE],
        )
