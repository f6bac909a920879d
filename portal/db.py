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


class SnapshotXmin(models.Func):
    """The oldest transaction still running as the statement starts (`pg_snapshot_xmin(pg_current_snapshot())`):
    every transaction with a smaller id has ended, so the rows they wrote can no longer change or appear."""

    template = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
    output_field = models.BigIntegerField()
