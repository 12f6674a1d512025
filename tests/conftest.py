"""Shared fixtures: a database per test on SQLite and, when reachable, on PostgreSQL.

PostgreSQL tests run when FRONTDESK_TEST_POSTGRES_URL points at a server (CI sets it); each test
gets a fresh database created from that URL and dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cryptography.fernet import Fernet

from frontdesk.settings import Settings

# In-process runtimes of the tests leave the collector alone: freezing what one test holds would
# keep it alive for the rest of the run (servers started as processes tune as usual).
os.environ.setdefault("FRONTDESK_GC_THRESHOLD", "0")
PG_URL = os.environ.get("FRONTDESK_TEST_POSTGRES_URL", "")
SKIP_PG = (
    "set FRONTDESK_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) "
    "to run PostgreSQL tests"
)
TEST_KEY = Fernet.generate_key().decode()  # a throwaway key per test run


def _pg_admin_dsn() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; its SQLAlchemy URL."""
    if not PG_URL:
        if os.environ.get("FRONTDESK_REQUIRE_POSTGRES"):
            pytest.fail("FRONTDESK_REQUIRE_POSTGRES is set but FRONTDESK_TEST_POSTGRES_URL is not")
        pytest.skip(SKIP_PG)
    import psycopg

    name = f"fd_test_{secrets.token_hex(6)}"
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/frontdesk.db"
    return request.getfixturevalue("pg_database")


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict = {
        "database_url": database_url,
        "secret_key": TEST_KEY,
        "workers": 4,
        "job_lease_seconds": 5,
        "poll_interval_seconds": 0.2,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "config_cache_seconds": 0.5,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator:
    from frontdesk.runtime import Runtime

    rt = Runtime(settings)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def admin_token(runtime) -> str:  # type: ignore[no-untyped-def]
    from frontdesk.security.tokens import create_token

    async with runtime.db.write() as conn:
        _, token = await create_token(conn, None, "test admin")
    return token


@pytest.fixture
async def client(runtime, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    from frontdesk.app import create_app

    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://frontdesk.test", headers=headers) as c:
        yield c
