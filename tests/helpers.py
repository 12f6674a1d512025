"""Test helpers: a tenant with a web chat channel, an FAQ agent and a small knowledge base."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from frontdesk.security.tokens import SYSTEM
from frontdesk.store.tables import messages

FAQ = [
    ("What are your opening hours?", "We are open Monday to Friday, 9:00 to 17:00.", ["hours", "open"]),
    ("How much does a wedding package cost?", "Our packages start at 5,000 USD.", ["price", "cost"]),
    ("Where are you located?", "We are at 12 Harbour Street, Springfield.", ["address", "location"]),
]


async def setup_webchat(  # type: ignore[no-untyped-def]
    rt, tenant_id: str = "default", prefix: str = "t", faq=FAQ, *, kind: str = "faq", new_tenant=None, **agent
) -> dict:
    """Create (in ``tenant_id``) a web chat channel routed to an agent (FAQ unless ``kind`` says
    otherwise, id ``<prefix>_<kind>``); return their ids."""
    if new_tenant is None:
        new_tenant = tenant_id != "default"
    if new_tenant:
        await rt.config.create(
            "tenant", {"tenant_id": tenant_id, "name": tenant_id.title()}, principal=SYSTEM
        )
    agent_id = f"{prefix}_{kind}"
    channel_id = f"{prefix}_web"
    await rt.config.create(
        "agent",
        {"agent_id": agent_id, "agent_name": "FAQ", "kind": kind, "tenant_id": tenant_id, **agent},
        principal=SYSTEM,
    )
    await rt.config.create(
        "channel",
        {
            "channel_id": channel_id,
            "channel_name": "Web chat",
            "channel_type": "webchat",
            "provider": "webchat",
            "tenant_id": tenant_id,
        },
        principal=SYSTEM,
    )
    await rt.config.create(
        "mapping",
        {"agent_id": agent_id, "channel_id": channel_id, "is_primary": True, "tenant_id": tenant_id},
        principal=SYSTEM,
    )
    for question, answer, tags in faq:
        await rt.config.create(
            "knowledge",
            {"question": question, "answer": answer, "tags": tags, "tenant_id": tenant_id},
            principal=SYSTEM,
        )
    return {"agent_id": agent_id, "channel_id": channel_id, "tenant_id": tenant_id}


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns something truthy, or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def outbound(rt, conversation_id: str) -> list:  # type: ignore[no-untyped-def]
    m = messages.c
    async with rt.db.read() as conn:
        return (
            await conn.execute(
                sa.select(m.id, m.text, m.status, m.turn_id, m.idempotency_key, m.payload)
                .where(m.conversation_id == conversation_id, m.direction == "out")
                .order_by(m.id)
            )
        ).all()
