"""The claims table vacuumed and analysed after 2 % of its rows have changed, not PostgreSQL's default 20 %.

A payout run moves 100 000 claims at once; at a million claims the default waited for 200 000 dead rows, so a run's
dead rows stayed until the next runs had added theirs. Until a vacuum the pages that read claims by index meet the
dead versions and the visibility map no longer lets an index-only scan skip the table: measured on the 1 M-claim
fill, the biller's pages fell from 41–65 to 24–37 pages/s at 20 clients after a run of 76 557 claims, and came back
after the vacuum (18 s) (docs/benchmarks.md, "2026-12-07 (second session)")."""

from django.db import migrations

SETTINGS = ("autovacuum_vacuum_scale_factor", "autovacuum_analyze_scale_factor")


class Migration(migrations.Migration):
    dependencies = [("claims", "0020_claim_event_actor_checked_per_statement")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE claims_claim SET (" + ", ".join(f"{name} = 0.02" for name in SETTINGS) + ")",
            "ALTER TABLE claims_claim RESET (" + ", ".join(SETTINGS) + ")",
        )
    ]
