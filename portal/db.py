"""Reading PostgreSQL's answer to a refused write."""

from django.db import IntegrityError


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint PostgreSQL says the write broke, or None if it names none.

    Django raises its own IntegrityError from the driver's; psycopg's carries the server's diagnostics.
    Asking for the name, rather than searching the message for it, holds in any server language and
    cannot match a name that merely appears in a value.
    """
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None)
