"""The actor of a log row (an audit record, a clinic event, a claim event) checked per statement, not per row.

It was a foreign key, checked row by row at the commit: a payout run's 117 000 audit records, 100 000 clinic and
100 000 claim events name one user, who was looked up 317 000 times (3 of the 7 checks per claim, ~1.3 s of the
run's database time at 100 000 claims). The same two rules, enforced by the database (migrations portal 0014,
claims 0020), checked per statement and per user:

- a row names an existing user: after each INSERT or UPDATE, every actor of its rows (its transition table) is
  looked up once and locked FOR KEY SHARE until the transaction ends, as the key locked it, so that no one
  deletes the user meanwhile (portal_actors_exist); checked at the statement's end, where the key waited for the
  commit (deferred): a log row is written after its actor exists;
- a user named by a row is not deleted, nor its id changed: at the commit, as the key checked it
  (portal_actor_unnamed, one constraint trigger per log table, the table its argument). Users are never deleted
  by the portal; the check reads the table's actor index where it has one (the audit log), else the table.

The clinic of a clinic event is checked the same way (`keys_checked`, migration portal 0015): a payout run's
100 000 clinic events name its ~250 clinics, which the key looked up once per event at the commit (one of the four
checks per claim left there). The functions take the column and the table it names as the trigger's arguments.
"""

from django.db import migrations

ACTORS_EXIST = """
CREATE FUNCTION portal_actors_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT named.actor_id INTO missing
      FROM (SELECT DISTINCT actor_id FROM new_rows WHERE actor_id IS NOT NULL) AS named
      LEFT JOIN LATERAL (
          SELECT 1 AS found FROM clinics_user AS person WHERE person.id = named.actor_id FOR KEY SHARE
      ) AS person ON true
     WHERE person.found IS NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" names actor %, who is not a user', TG_TABLE_NAME, missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION portal_actor_unnamed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE actor_id = $1)', TG_ARGV[0]) INTO named USING OLD.id;
    IF named THEN
        RAISE EXCEPTION 'delete or update on table "%" leaves user % named as actor in table "%"',
            TG_TABLE_NAME, OLD.id, TG_ARGV[0] USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""


KEYS_EXIST = """
CREATE FUNCTION portal_keys_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    -- TG_ARGV: the column, the table it names (by id).
    EXECUTE format(
        'SELECT named.key FROM (SELECT DISTINCT %1$I AS key FROM new_rows WHERE %1$I IS NOT NULL) AS named '
        'LEFT JOIN LATERAL (SELECT 1 AS found FROM %2$I AS referenced WHERE referenced.id = named.key '
        'FOR KEY SHARE) AS referenced ON true WHERE referenced.found IS NULL LIMIT 1',
        TG_ARGV[0], TG_ARGV[1]) INTO missing;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "%" names % %, which is not in table "%"',
            TG_TABLE_NAME, TG_ARGV[0], missing, TG_ARGV[1] USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION portal_key_unnamed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
BEGIN
    -- TG_ARGV: the table whose column names this row, that column.
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[0], TG_ARGV[1]) INTO named USING OLD.id;
    IF named THEN
        RAISE EXCEPTION 'delete or update on table "%" leaves % named in %.%',
            TG_TABLE_NAME, OLD.id, TG_ARGV[0], TG_ARGV[1] USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""


def keys_checked(table: str, column: str, referenced: str) -> migrations.RunSQL:
    """`table`.`column` names a row of `referenced` (by id), checked per statement and per distinct key, as the
    actors are (see above): for a column whose rows name few keys each statement."""
    sql = [
        f"CREATE TRIGGER {table}_{column}_{event.lower()} AFTER {event} ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION portal_keys_exist('{column}', '{referenced}')"
        for event in ("INSERT", "UPDATE")
    ]
    sql.append(
        f"CREATE CONSTRAINT TRIGGER {table}_{column}_named AFTER DELETE OR UPDATE OF id ON {referenced} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION portal_key_unnamed('{table}', '{column}')"
    )
    reverse = [f"DROP TRIGGER {table}_{column}_{event.lower()} ON {table}" for event in ("INSERT", "UPDATE")]
    reverse.append(f"DROP TRIGGER {table}_{column}_named ON {referenced}")
    return migrations.RunSQL(sql, reverse)


def actors_checked(table: str, *, updates: bool = True) -> migrations.RunSQL:
    """The two rules for `table`'s actor_id (see above); `updates`: its rows may be updated (not the audit log)."""
    events = ["INSERT", "UPDATE"] if updates else ["INSERT"]
    sql = [
        f"CREATE TRIGGER {table}_actors_{event.lower()} AFTER {event} ON {table} REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION portal_actors_exist()"
        for event in events
    ]
    sql.append(
        f"CREATE CONSTRAINT TRIGGER {table}_actor_named AFTER DELETE OR UPDATE OF id ON clinics_user "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION portal_actor_unnamed('{table}')"
    )
    reverse = [f"DROP TRIGGER {table}_actors_{event.lower()} ON {table}" for event in events]
    reverse.append(f"DROP TRIGGER {table}_actor_named ON clinics_user")
    return migrations.RunSQL(sql, reverse)
