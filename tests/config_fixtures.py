"""A fresh, migrated database per test: SQLite always, PostgreSQL when FRONTDESK_TEST_POSTGRES_URL is set.

The PostgreSQL side creates one database per test module (dropped afterwards) and empties it
between tests. The same fixture lives in tests/integration/config/conftest.py.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from frontdesk.agents import config_rules
from frontdesk.config.service import ConfigService
from frontdesk.security.secrets import SecretBox
from frontdesk.store.db import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.tables import metadata
from frontdesk.store.tenants import ensure_default_tenant

config_rules.register()  # as the runtime does: agents check their own configuration

PG_SKIP = "set FRONTDESK_TEST_POSTGRES_URL to run PostgreSQL tests"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    base = os.environ.get("FRONTDESK_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("FRONTDESK_REQUIRE_POSTGRES"):  # CI: a missing database is a failure
            pytest.fail("FRONTDESK_REQUIRE_POSTGRES is set but FRONTDESK_TEST_POSTGRES_URL is not")
        pytest.skip(PG_SKIP)
    url = make_url(base)
    name = "fd_" + secrets.token_hex(6)
    server = dict(host=url.host, port=url.port or 5432, user=url.username, password=url.password)
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.db'}")
        await upgrade(database.engine)
    else:
        database = Database(request.getfixturevalue("pg_url"))
        await upgrade(database.engine)  # a no-op after the module's first test
        async with database.write() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await ensure_default_tenant(database)
    yield database
    await database.dispose()


@pytest.fixture
def changes() -> list[tuple[str, str, Any, Any]]:
    return []


@pytest.fixture
def service(db: Database, changes: list) -> ConfigService:
    async def on_change(kind: str, action: str, before: Any, after: Any) -> None:
        changes.append((kind, action, before, after))

    return ConfigService(db, SecretBox([SecretBox.new_key()]), on_change=on_change)
