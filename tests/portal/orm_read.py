"""What the tests of the queries compiled once (portal.db.PreparedQuery) hold their instances to: the ORM's."""


def assert_read_as_the_orm(got, expected) -> None:
    """`got`, made from a compiled query's row (portal.db.model_from_row), is what the ORM read as `expected`: the
    same model, every concrete field's value, and the state of an instance read from the database."""
    assert type(got) is type(expected)
    fields = type(expected)._meta.concrete_fields
    assert [getattr(got, field.attname) for field in fields] == [getattr(expected, field.attname) for field in fields]
    assert (got._state.adding, got._state.db, got.get_deferred_fields()) == (False, "default", set())
