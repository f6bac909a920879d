"""The claims and invoices tables are vacuumed soon after a payout run (claims 0021, 0023): autovacuum starts at 2 %
of their rows changed, not PostgreSQL's 20 %."""

import pytest
from django.db import connection

from claims.models import Claim, Invoice


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Claim, Invoice])
def test_autovacuum_reaches_the_table_after_two_percent_of_its_rows_changed(model):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        (options,) = cursor.fetchone()
    assert sorted(options) == ["autovacuum_analyze_scale_factor=0.02", "autovacuum_vacuum_scale_factor=0.02"]
