"""The audit chain's tail and the next ids in one statement, as before the logs were partitioned, without planning
a query over every month each time (portal.audit_chain).

The last row of the recent months (from `since`, a literal each call, so the planner reads only those months) is
the tail when its id is the last the sequence gave out: no row anywhere can have a larger one. Otherwise (a write
rolled back after taking its id, rows loaded with old times, nothing written lately) every month is read, and with
every row archived the newest archive's boundary. The tail is read before the ids are taken. With `count` 0, one
row with no id: the tail only.
"""

from django.db import migrations

FUNCTION_SQL = """
CREATE FUNCTION portal_audit_chain_next(count integer, since timestamptz)
RETURNS TABLE (next_id bigint, tail_hash varchar) LANGUAGE plpgsql AS $$
DECLARE
    seq_last bigint;
    seq_called boolean;
    recent_id bigint;
    recent_hash varchar;
    tail varchar;
BEGIN
    SELECT s.last_value, s.is_called INTO seq_last, seq_called FROM portal_auditevent_id_seq s;
    IF seq_called THEN
        SELECT e.id, e.hash INTO recent_id, recent_hash
            FROM portal_auditevent e WHERE e.occurred_at >= since ORDER BY e.id DESC LIMIT 1;
    END IF;
    IF seq_called AND recent_id = seq_last THEN
        tail := recent_hash;
    ELSE
        SELECT coalesce(
            (SELECT e.hash FROM portal_auditevent e ORDER BY e.id DESC LIMIT 1),
            (SELECT a.last_hash FROM portal_logarchive a WHERE a."table" = 'portal_auditevent'
                ORDER BY a.range_end DESC LIMIT 1),
            repeat('0', 64)
        ) INTO tail;
    END IF;
    IF count < 1 THEN
        RETURN QUERY SELECT NULL::bigint, tail;
    ELSE
        RETURN QUERY SELECT nextval('portal_auditevent_id_seq'), tail FROM generate_series(1, count);
    END IF;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("portal", "0010_log_indexes_and_archives")]

    operations = [
        migrations.RunSQL(FUNCTION_SQL, "DROP FUNCTION portal_audit_chain_next(integer, timestamptz);"),
    ]
