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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.apps import apps
from django.db import connection

PREFIX = "test_tandportal_template_"
# Templates of older migrations are dropped when a new one is made, the newest few kept (other branches on the
# same server).
KEEP = 4
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
        cursor.execute(f"COMMENT ON DATABASE {_quoted(template)} IS %s", [_now()])
        cursor.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s "
            "ORDER BY shobj_description(oid, 'pg_database') DESC NULLS LAST",
            [PREFIX + "%"],
        )
        for (old,) in cursor.fetchall()[KEEP:]:
            cursor.execute(f"DROP DATABASE IF EXISTS {_quoted(old)}")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()
