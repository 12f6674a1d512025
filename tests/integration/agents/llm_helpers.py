"""Shared set-up for the llm agent integration tests: a fake model server, an llm agent on a web chat
channel pointing at it, and small readers of what the pipeline stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from frontdesk.model.messages import InboundMessage
from frontdesk.security.tokens import SYSTEM
from frontdesk.settings import Settings
from frontdesk.store.runs import agent_runs
from frontdesk.store.tables import conversations
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import FAQ, outbound, setup_webchat, wait_for

PROFILE = {
    "description": "wedding planning in Springfield",
    "services": [{"name": "Full wedding package", "price": 5000, "currency": "USD", "duration_minutes": 90}],
    "hours": {"Monday-Friday": "9:00-17:00"},
    "location": "12 Harbour Street, Springfield",
    "tone": "warm",
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The fake model server listens on 127.0.0.1, which tenant-chosen endpoints may not reach by default.
    return make_settings(database_url, http_actions_allow="127.0.0.1")


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with fake.serve():
        yield fake


async def setup_llm(
    rt: Any,
    base_url: str,
    *,
    tenant_id: str = "default",
    prefix: str = "l",
    config: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
    timezone: str = "Europe/Paris",
    faq: list = FAQ,
    tenant_settings: dict[str, Any] | None = None,
) -> dict[str, str]:
    """An llm agent (and its web chat channel and knowledge) in ``tenant_id``; their ids."""
    tenant = {
        "name": "Dream Weddings",
        "business_profile": PROFILE if profile is None else profile,
        "timezone": timezone,
        "settings": tenant_settings or {},
    }
    if tenant_id == "default":
        await rt.config.update("tenant", "default", tenant, principal=SYSTEM)
    else:
        await rt.config.create("tenant", {"tenant_id": tenant_id, **tenant}, principal=SYSTEM)
    # The tenant exists by now (made or updated above with the business profile).
    return await setup_webchat(
        rt,
        tenant_id,
        prefix,
        faq,
        kind="llm",
        new_tenant=False,
        agent_name="Ava",
        config={
            "base_url": base_url,
            "model": "fake-model",
            "max_retries": 0,
            "timeout_seconds": 5,
            "tools": ["search_knowledge", "handoff_to_human"],
            "fallback_text": "Sorry, a colleague will get back to you.",
            **(config or {}),
        },
    )


async def say(
    rt: Any, channel_id: str, text: str, sender: str = "visitor-1", msg_id: str | None = None
) -> Any:
    channel = await rt.cache.channel(channel_id)
    say.count += 1  # type: ignore[attr-defined]
    message = InboundMessage(msg_id or f"m{say.count}", sender, text)  # type: ignore[attr-defined]
    return await rt.ingest.message(channel, message)


say.count = 0  # type: ignore[attr-defined]


async def replies(rt: Any, conversation_id: str, n: int = 1) -> list:
    async def enough() -> list | None:
        rows = await outbound(rt, conversation_id)
        return rows if len(rows) >= n else None

    return await wait_for(enough)


async def conversation(rt: Any, conversation_id: str) -> Any:
    async with rt.db.read() as conn:
        return (
            await conn.execute(
                sa.select(conversations).where(conversations.c.conversation_id == conversation_id)
            )
        ).one()


async def runs_of(rt: Any, conversation_id: str) -> list[dict[str, Any]]:
    async with rt.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(agent_runs)
                .where(agent_runs.c.conversation_id == conversation_id)
                .order_by(agent_runs.c.started_at)
            )
        ).all()
    return [dict(r._mapping) for r in rows]
