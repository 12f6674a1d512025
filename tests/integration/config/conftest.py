"""Configuration test fixtures (tests/config_fixtures.py) and an HTTP client on the config routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from frontdesk.config.service import ConfigService
from tests.config_fixtures import changes, db, pg_url, service  # noqa: F401  (fixtures)


@pytest.fixture
async def api(service: ConfigService) -> AsyncIterator[Any]:  # noqa: F811 (the fixture, by name)
    """An HTTP client on a small app carrying only the configuration routers, plus three tokens."""
    from types import SimpleNamespace

    import httpx
    from fastapi import FastAPI

    from frontdesk.api import config_routes, legacy
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
    app.include_router(legacy.router)
    app.state.runtime = SimpleNamespace(db=service.db, config=service, token_cache={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.tokens = tokens  # type: ignore[attr-defined]
        client.auth_as = lambda who: {"Authorization": f"Bearer {tokens[who]}"}  # type: ignore[attr-defined]
        yield client
