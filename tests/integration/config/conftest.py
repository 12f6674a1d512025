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

from frontdesk.config.service import ConfigService
from frontdesk.runtime import ensure_default_tenant
from frontdesk.security.secrets import SecretBox
from frontdesk.store.db import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.tables import metadata

PG_SKIP = "set FRONTDESK_TEST_POSTGRES_URL to run PostgreSQL tests"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    base = os.environ.get("FRONTDESK_TEST_POSTGRES_URL")
    if not base:
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


@pytest.fixture
async def api(service: ConfigService) -> AsyncIterator[Any]:
    """An HTTP client on a small app carrying only the configuration routers, plus three tokens."""
    from types import SimpleNamespace

    import httpx
    from fastapi import FastAPI

    from frontdesk.api import config_compat, config_routes
    from frontdesk.api import errors as api_errors
    from frontdesk.security.tokens import SYSTEM, create_token

    for t in ("a", "b"):
        await service.create("tenant", {"tenant_id": t}, principal=SYSTEM)
    async with service.db.write() as conn:
        tokens = {
            name: (await create_token(conn, tenant))[1]
            for name, tenant in (("admin", None), ("a", "a"), ("b", "b"))
        }
    app = FastAPI()
    api_errors.install(app)
    app.include_router(config_routes.router)
    app.include_router(config_compat.router)
    app.state.runtime = SimpleNamespace(db=service.db, config=service, token_cache={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.tokens = tokens  # type: ignore[attr-defined]
        client.auth_as = lambda who: {"Authorization": f"Bearer {tokens[who]}"}  # type: ignore[attr-defined]
        yield client
