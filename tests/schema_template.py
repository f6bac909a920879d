"""The migrated test database, made once and copied: each test process's database is a copy of a template.

Migrating from nothing takes each pytest process (each xdist worker) the longest part of a short run. The first
process that migrates keeps its freshly migrated database as a template named by a hash of every installed
app's migration files; the next processes, in this run or a later one on the same server, copy it with
CREATE DATABASE … TEMPLATE (a file copy) and let Django's migrate find nothing to apply. A changed, added or
removed migration, or an upgraded package with migrations of its own, changes the hash, so a stale schema is
never used: the next run migrates again and keeps a new template.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.utils import timezone

PREFIX = "test_tandportal_template_"
# Templates of older migrations are dropped when a new one is made, the newest few kept (other branches on the
# same server: with 4, six checkouts of other code on one server dropped each other's demo before every run, and
# each run loaded it again; a template is 14–17 MB).
KEEP = 12
# One lock for every template operation on the server: a copy never meets a template being made or dropped.
LOCK_KEY = 0x7470_5F74_706C  # "tp_tpl"


def migrations_hash() -> str:
    digest = hashlib.sha256()
    for app in sorted(apps.get_app_configs(), key=lambda app: app.label):
        try:
            module = importlib.import_module(f"{app.name}.migrations")
        except ModuleNotFoundError:
            continue
        folder = Path(module.__file__).parent
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{app.label}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def template_name() -> str:
    return PREFIX + migrations_hash()


@contextmanager
def _locked() -> Iterator[object]:
    """A cursor on the server's maintenance database, holding the template lock."""
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            yield cursor
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cursor.fetchone() is not None


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def copy_into(test_name: str) -> bool:
    """Make the test database `test_name` a copy of the template; False when there is no template yet."""
    template = template_name()
    with _locked() as cursor:
        # A database left by a process that died under the same name is never used as it is.
        cursor.execute(f"DROP DATABASE IF EXISTS {_quoted(test_name)}")
        if not _exists(cursor, template):
            return False
        cursor.execute(f"CREATE DATABASE {_quoted(test_name)} TEMPLATE {_quoted(template)}")
    return True


def keep_as_template(test_name: str) -> None:
    """Copy the freshly migrated test database into the template (unless another process did already), and drop
    the oldest templates beyond KEEP."""
    template = template_name()
    connection.close()  # a template is copied only with no connection to it
    with _locked() as cursor:
        if _exists(cursor, template):
            return
        cursor.execute(f"CREATE DATABASE {_quoted(template)} TEMPLATE {_quoted(test_name)}")
        _prune(cursor, PREFIX, template)


def _prune(cursor, prefix: str, made: str) -> None:
    """Date the template just made, and drop the oldest of its kind beyond KEEP (under the lock: none is being
    copied)."""
    cursor.execute(f"COMMENT ON DATABASE {_quoted(made)} IS %s", [_now()])
    cursor.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s "
        "ORDER BY shobj_description(oid, 'pg_database') DESC NULLS LAST",
        [prefix + "%"],
    )
    for (old,) in cursor.fetchall()[KEEP:]:
        cursor.execute(f"DROP DATABASE IF EXISTS {_quoted(old)}")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


# The demo, loaded ------------------------------------------------------------------------------------------------

DEMO_PREFIX = "test_tandportal_demo_"
# Held while a process gets its demo: not LOCK_KEY, which a copy takes while the demo loads.
DEMO_LOCK_KEY = LOCK_KEY + 1


def demo_hash() -> str:
    """The migrations, every source file of the project's own apps and fixtures (the demo is loaded through their
    services), and today's date (the demo's dates are relative to the day it loads)."""
    digest = hashlib.sha256(migrations_hash().encode())
    base = Path(settings.BASE_DIR)
    folders = [Path(app.path) for app in apps.get_app_configs() if Path(app.path).is_relative_to(base)]
    for folder in sorted({*folders, base / "fixtures"}):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".mo":
                digest.update(f"{path.relative_to(base)}\0".encode())
                digest.update(path.read_bytes())
    digest.update(timezone.localdate().isoformat().encode())
    return digest.hexdigest()[:20]


def _files_present() -> bool:
    """Whether every file the database names is in the storage: the demo's PDFs are written under MEDIA_ROOT
    when it loads, and a copy of its database finds them only while nobody has emptied that folder."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                names = model._default_manager.exclude(**{field.name: ""}).values_list(field.name, flat=True)
                if not all(field.storage.exists(name) for name in names):
                    return False
    return True


def _use(name: str) -> None:
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = name
    connection.settings_dict["NAME"] = name


def demo_use(name: str, load: Callable[[], object]) -> str:
    """Switch the process to a database `name` with the demo loaded: a copy of the demo's template when there is
    one whose files are all present, else a copy of the empty schema where `load` loads it, kept as the template.
    Returns the name of the database used before, for `demo_leave`.

    One process at a time gets its demo (DEMO_LOCK_KEY, held on a connection of its own): when both xdist workers
    reach their demo tests after a change, the second waits for the first to load and keep the template, then
    copies it, instead of loading the same demo beside it (5 s of CPU, and 20–35 s of wall time for both)."""
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [DEMO_LOCK_KEY])
        try:
            return _demo_use(name, load)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [DEMO_LOCK_KEY])


def _demo_use(name: str, load: Callable[[], object]) -> str:
    before = connection.settings_dict["NAME"]
    template = DEMO_PREFIX + demo_hash()
    connection.close()
    with _locked() as cursor:
        copied = _exists(cursor, template)
        _create(cursor, name, template if copied else _schema_source(cursor, before))
    _use(name)
    if copied and _files_present():
        return before
    if copied:  # its files are gone: the template is made again
        connection.close()
        with _locked() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {_quoted(template)}")
            _create(cursor, name, _schema_source(cursor, before))
    load()
    connection.close()
    with _locked() as cursor:
        if not _exists(cursor, template):
            cursor.execute(f"CREATE DATABASE {_quoted(template)} TEMPLATE {_quoted(name)}")
            _prune(cursor, DEMO_PREFIX, template)
    return before


def _create(cursor, name: str, source: str) -> None:
    cursor.execute(f"DROP DATABASE IF EXISTS {_quoted(name)}")
    cursor.execute(f"CREATE DATABASE {_quoted(name)} TEMPLATE {_quoted(source)}")


def _schema_source(cursor, own: str) -> str:
    """The schema's template, else the process's own database (its schema is the same)."""
    return template_name() if _exists(cursor, template_name()) else own


def demo_leave(name: str, before: str) -> None:
    """Back to the database used before `demo_use`, and drop the demo's copy (without waiting)."""
    _use(before)
    drop_without_waiting(name)


def drop_without_waiting(name: str) -> None:
    """Drop the database `name` at the process's end without waiting for it.

    PostgreSQL's DROP DATABASE waits for a checkpoint of the whole server (`CHECKPOINT_WAIT`): 1.8 s on a quiet
    server here, 3–12 s at the end of a loaded test run, for each worker's database and its demo copy. Nothing in
    the process needs them gone, and the next run drops a leftover before it copies (`copy_into`, `_create`). So
    the statement is sent on a connection of its own and the process goes on; the server runs it to its end
    whether or not the process is still there to read the result."""
    connection.close()
    params = connection.get_connection_params() | {"dbname": "postgres", "autocommit": True}
    sender = psycopg.connect(**params)
    sender.pgconn.send_query(f"DROP DATABASE IF EXISTS {_quoted(name)}".encode())
    while sender.pgconn.flush():  # the whole statement is in the socket's buffer
        pass
    _SENT.append(sender)  # kept open: closed at the process's end, after the statement was read


_SENT: list[psycopg.Connection] = []
