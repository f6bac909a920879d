"""Reading PostgreSQL's answer to a refused write; the transaction ids the clinic events are ordered by."""

import datetime
import functools

from django.db import IntegrityError, connection, models


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
    pg_stat_activity says belong to another database are left out, and so are autovacuum's (an automatic ANALYZE
    takes a transaction id to write its statistics, and never writes a row of ours: after a large delete it held
    back the feed of a test); one it does not show (its role's sessions hidden from ours) is kept in, which only
    ever makes the answer smaller, never unsafe.
    """

    template = (
        "(SELECT coalesce(min(running::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
        " FROM pg_snapshot_xip(pg_current_snapshot()) AS running"
        " WHERE mod(running::text::bigint, 4294967296) NOT IN ("
        "SELECT backend_xid::text::bigint FROM pg_stat_activity"
        " WHERE backend_xid IS NOT NULL"
        " AND (datname IS DISTINCT FROM current_database() OR backend_type = 'autovacuum worker')))"
    )
    output_field = models.BigIntegerField()


class PreparedQuery:
    """A query the ORM compiles once per process and that is then run with new values as plain SQL.

    For the few small queries every page makes (the second factor owed, the places for "Byt klinik", the bell's
    count, whether any service window is near): compiling them costs the ORM 0.3–2 ms of CPU each time, several
    times what PostgreSQL spends answering them, on a page whose whole budget is a few tens of ms (issue 16). The
    SQL is still the ORM's, built by `build` from the same querysets as elsewhere.

    `build(**values)` returns a values()/values_list() queryset; `markers` gives the type of each of its keyword
    arguments (int, str, datetime.date, datetime.datetime), or a value of its own. The query is compiled with a
    marker for each, a value of that type that no other parameter of the query can have (`_marker`: a negative id
    no row has, a day long past, a text no form lets through), and each must come back as a parameter of its own;
    calling it puts the given values in their places. Rows come back as tuples, without the ORM's conversions: for
    columns whose database values are already what Python needs (ids, booleans, counts, times), or made into
    instances by `model_from_row`.
    """

    def __init__(self, build, **markers):
        self._build = build
        self._markers = {
            name: _marker(marker, place) if isinstance(marker, type) else marker
            for place, (name, marker) in enumerate(markers.items())
        }
        self._compiled = None

    def _compile(self) -> tuple[str, list]:
        if self._compiled is None:
            sql, params = self._build(**self._markers).query.sql_with_params()
            slots = []
            for param in params:
                names = [name for name, marker in self._markers.items() if param == marker]
                slots.append((True, names[0]) if names else (False, param))
            missing = set(self._markers) - {value for is_marker, value in slots if is_marker}
            if missing:
                raise ValueError(f"the compiled query has no parameter for {sorted(missing)}")
            self._compiled = (sql, slots)
        return self._compiled

    def rows(self, **values) -> list[tuple]:
        sql, slots = self._compile()
        params = [values[value] if is_marker else value for is_marker, value in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def count(self, **values) -> int:
        """How many rows the query has (its SQL as a subquery of one count)."""
        sql, slots = self._compile()
        params = [values[value] if is_marker else value for is_marker, value in slots]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({sql}) AS counted", params)  # noqa: S608 (the ORM's SQL)
            return cursor.fetchone()[0]


def _marker(kind: type, place: int):
    """A value of `kind` for the `place`-th parameter of a PreparedQuery, unlike any other's and any real one's."""
    if issubclass(kind, datetime.datetime):
        return datetime.datetime(1901, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(days=place)
    if issubclass(kind, datetime.date):
        return datetime.date(1901, 1, 1) + datetime.timedelta(days=place)
    if issubclass(kind, int):
        return -7_390_514_223 - place
    if issubclass(kind, str):
        return f"<marker {place}>"
    raise TypeError(f"no marker for {kind.__name__}")


def model_columns(model, path: str = "") -> list[str]:
    """The values_list() names of `model`'s concrete fields, behind `path` for a related model's ("clinic__"), in the
    order model_from_row reads them back."""
    return [path + field.attname for field in model._meta.concrete_fields]


@functools.cache
def _conversions(model) -> tuple[list[str], list[tuple[int, object, list]]]:
    """The model's concrete fields' names, and for each field that has any, its place, column and the ORM's
    converters: the same for every row, so worked out once per model (converters belong to the fields and the
    backend, not to a request)."""
    names, conversions = [], []
    for place, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if converters:
            conversions.append((place, column, converters))
        names.append(field.attname)
    return names, conversions


def model_from_row(model, values):
    """An instance of `model` from the next of `values` (an iterator over a PreparedQuery's row, the model's concrete
    fields in order), with the ORM's conversions, as the ORM makes one it has read."""
    names, conversions = _conversions(model)
    row = [next(values) for _name in names]
    for place, column, converters in conversions:
        for converter in converters:
            row[place] = converter(row[place], column, connection)
    return model.from_db(connection.alias, names, row)
