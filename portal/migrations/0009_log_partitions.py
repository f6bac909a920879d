"""The audit log and the access log become tables partitioned by month (PostgreSQL declarative partitioning).

Each table is rebuilt under an exclusive lock in this migration's transaction: the old table is renamed, a new
one `PARTITION BY RANGE (occurred_at)` made like it, with a partition per UTC month from its first row's month to
a few months ahead and a DEFAULT partition (an insert never fails for want of a month), then every row is copied
over with its id, the old table dropped, and its indexes, foreign keys, id sequence (at the same next value) and
append-only trigger made again on the new table. A partitioned table's primary key must hold the partition key:
the constraint becomes (id, occurred_at); Django still treats `id` as the key, and nothing refers to these rows.

`portal_log_partition_create` and `portal_log_partitions_ensure` are SECURITY DEFINER functions owned by the
tables' owner, so that the portal's role (which owns nothing) can add the coming months (portal.log_partitions).
"""

import datetime

from django.db import migrations
from psycopg import sql

TABLES = ("portal_auditevent", "portal_accesslogentry")
MONTHS_AHEAD = 3

# One month's partition, `{parent}_pYYYYMM`, for [first of the month, first of the next) in UTC; false if it is
# there. Rows of that month already in the DEFAULT partition move into it: the default is detached for the move
# (a detached partition has no append-only trigger) and attached again, all in the caller's transaction. Moving
# a row changes none of its values, so the audit log's chain is as before.
FUNCTIONS_SQL = """
-- The refusal names the log, also when it fires on one of its months.
CREATE OR REPLACE FUNCTION portal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    log text := coalesce((SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = TG_RELID), TG_TABLE_NAME);
BEGIN
    RAISE EXCEPTION 'the table % is append-only: % is not allowed', log, TG_OP
        USING ERRCODE = 'insufficient_privilege', DETAIL = format('partition %s', TG_TABLE_NAME);
END;
$$;

CREATE FUNCTION portal_log_partition_create(parent text, month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    lo timestamptz := date_trunc('month', month)::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', month) + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    part text := parent || '_p' || to_char(month, 'YYYYMM');
    dflt text := parent || '_default';
    waiting boolean;
BEGIN
    IF parent NOT IN ('portal_auditevent', 'portal_accesslogentry') THEN
        RAISE EXCEPTION 'not a partitioned log: %', parent;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('portal_log_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE occurred_at >= $1 AND occurred_at < $2)', dflt)
        INTO waiting USING lo, hi;
    IF waiting THEN
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, dflt);
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, parent, lo, hi);
    IF waiting THEN
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE occurred_at >= $1 AND occurred_at < $2', part, dflt)
            USING lo, hi;
        EXECUTE format('DELETE FROM %I WHERE occurred_at >= $1 AND occurred_at < $2', dflt) USING lo, hi;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', parent, dflt);
    END IF;
    RETURN true;
END;
$$;

-- This month and `months_ahead` more (at most 36), and every month with rows in the DEFAULT partition, for
-- both logs; the number of partitions made.
CREATE FUNCTION portal_log_partitions_ensure(months_ahead integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    parent text;
    month date;
    made integer := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['portal_auditevent', 'portal_accesslogentry'] LOOP
        FOR month IN EXECUTE format(
            'SELECT DISTINCT date_trunc(''month'', occurred_at AT TIME ZONE ''UTC'')::date FROM %I '
            'UNION SELECT (date_trunc(''month'', now() AT TIME ZONE ''UTC'') + make_interval(months => n))::date '
            'FROM generate_series(0, least(greatest($1, 0), 36)) AS n ORDER BY 1', parent || '_default')
            USING months_ahead
        LOOP
            IF portal_log_partition_create(parent, month) THEN
                made := made + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN made;
END;
$$;

REVOKE EXECUTE ON FUNCTION portal_log_partition_create(text, date) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION portal_log_partitions_ensure(integer) FROM PUBLIC;
"""
FUNCTIONS_DROP_SQL = """
CREATE OR REPLACE FUNCTION portal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP FUNCTION portal_log_partitions_ensure(integer);
DROP FUNCTION portal_log_partition_create(text, date);
"""


def _month_start(moment: datetime.datetime) -> datetime.date:
    return moment.astimezone(datetime.UTC).date().replace(day=1)


def _months(first: datetime.date, last: datetime.date):
    month = first
    while month <= last:
        yield month
        month = (month + datetime.timedelta(days=32)).replace(day=1)


def partition_tables(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
        for table in TABLES:
            _rebuild(cursor, table, now, partitioned=True)


def unpartition_tables(apps, schema_editor):
    """Back to one plain table each (rows, ids and indexes kept), before the functions go."""
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            _rebuild(cursor, table, None, partitioned=False)


def _rebuild(cursor, table: str, now: datetime.datetime | None, *, partitioned: bool) -> None:
    old = f"{table}_unpartitioned"
    cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
        "AND indexname <> %s ORDER BY indexname",
        [table, f"{table}_pkey"],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'f' ORDER BY conname",
        [table],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(_sequence_of(cursor, table))))
    last_value, is_called = cursor.fetchone()
    next_id = last_value + 1 if is_called else last_value

    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    if partitioned:
        cursor.execute(sql.SQL("SELECT min(occurred_at) FROM {}").format(sql.Identifier(old)))
        first = cursor.fetchone()[0] or now
        cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (occurred_at)")
        cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        last = (_month_start(now) + datetime.timedelta(days=31 * MONTHS_AHEAD)).replace(day=1)
        for month in _months(_month_start(first), last):
            cursor.execute("SELECT portal_log_partition_create(%s, %s)", [table, month])
    else:
        cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)")
    cursor.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(sql.Identifier(table), sql.Identifier(old)))
    cursor.execute(f"DROP TABLE {old}")

    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (START WITH {next_id})")
    key = "id, occurred_at" if partitioned else "id"
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({key})")
    for _name, definition in indexes:
        cursor.execute(definition.replace(" ON ONLY ", " ON "))
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    cursor.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION portal_refuse_change()"
    )


def _sequence_of(cursor, table: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    return cursor.fetchone()[0]


class Migration(migrations.Migration):
    dependencies = [("portal", "0008_clinic_event_agreement_published")]

    operations = [
        migrations.RunSQL(FUNCTIONS_SQL, FUNCTIONS_DROP_SQL),
        migrations.RunPython(partition_tables, unpartition_tables),
    ]
