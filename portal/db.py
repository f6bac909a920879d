"""Reading PostgreSQL's answer to a refused write; the transaction ids the clinic events are ordered by."""

from django.db import IntegrityError, models


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint PostgreSQL says the write broke, or None if it names none.

    Django raises its own IntegrityError from the driver's; psycopg's carries the server's diagnostics.
    Asking for the name, rather than searching the message for it, holds in any server language and
    cannot match a name that merely appears in a value.
    """
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None)


class CurrentTransactionId(models.Func):
    """The writing transaction's id (`pg_current_xact_id()`, 64 bits, never wrapping) as a bigint: a column default,
    so every way of inserting (create, bulk_create, COPY) stamps the row with the transaction that wrote it."""

    template = "(pg_current_xact_id()::text::bigint)"
    output_field = models.BigIntegerField()
    allowed_default = True


class OldestRunningTransaction(models.Func):
    """The id of the oldest transaction of this database still running as the statement starts (or, with none, the
    next id to be handed out): every transaction of this database with a smaller id has ended, so the rows they
    wrote can no longer change or appear.

    `pg_snapshot_xmin(pg_current_snapshot())` would answer for the whole server: a long transaction in another
    database on it (a report, another checkout's tests) would hold back what this one shows. Transactions that
    pg_stat_activity says belong to another database are left out; one it does not show (its role's sessions
    hidden from ours) is kept in, which only ever makes the answer smaller, never unsafe.
    """

    template = (
        "(SELECT coalesce(min(running::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
        " FROM pg_snapshot_xip(pg_current_snapshot()) AS running"
        " WHERE mod(running::text::bigint, 4294967296) NOT IN ("
        "SELECT backend_xid::text::bigint FROM pg_stat_activity"
        " WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()))"
    )
    output_field = models.BigIntegerField()
