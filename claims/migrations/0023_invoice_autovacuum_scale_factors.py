"""The invoices table vacuumed and analysed after 2 % of its rows have changed, as the claims table is (claims 0021).

A payout run marks its invoices paid too: 12 919 of 155 061 at a million claims, under the default 20 %, so
autovacuum left them. Measured on the 1 M-claim fill with autovacuum on, after a run of 76 557 claims: the claims
table was vacuumed within a minute, but Era fakturor's tabs fell from 50–71 to 30–38 pages/s and a claim's page to
106 / 166 ms (was 24 / 31), their index-only scans of the invoices sent back to the table by the dead rows; after a
vacuum of the invoices alone all were back (docs/benchmarks.md, "2026-12-07 (third session)")."""

from django.db import migrations

SETTINGS = ("autovacuum_vacuum_scale_factor", "autovacuum_analyze_scale_factor")


class Migration(migrations.Migration):
    dependencies = [("claims", "0022_claim_questions_answered")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE claims_invoice SET (" + ", ".join(f"{name} = 0.02" for name in SETTINGS) + ")",
            "ALTER TABLE claims_invoice RESET (" + ", ".join(SETTINGS) + ")",
        )
    ]
