"""The claims table is vacuumed soon after a payout run (claims 0021): autovacuum starts at 2 % of its rows changed."""

import pytest
from django.db import connection

from claims.models import Claim


@pytest.mark.django_db
def test_autovacuum_reaches_the_claims_table_after_two_percent_of_its_rows_changed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [Claim._meta.db_table])
        (options,) = cursor.fetchone()
    assert sorted(options) == ["autovacuum_analyze_scale_factor=0.02", "autovacuum_vacuum_scale_factor=0.02"]
