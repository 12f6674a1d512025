"""Documented paths of the systems Frontdesk replaces (seed 000): message routing test, health."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from frontdesk import __version__
from frontdesk.api.deps import get_principal, get_runtime
from frontdesk.channels.health import report as health_report
from frontdesk.errors import ConfigError, NotFound
from frontdesk.model.phone import normalize_e164
from frontdesk.pipeline.simulate import exchange
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store.tables import agents, channels, mappings

router = APIRouter(tags=["compatibility"])


class RouteMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from", description="the customer's number, E.164")
    to: str = Field(description="the business number the message is sent to, E.164")
    message: str = Field(min_length=1, max_length=4096)
    conversation_id: str | None = Field(default=None, max_length=150)


def _phone(raw: str) -> str:
    try:
        return normalize_e164(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@router.post("/route/message")
async def route_message(
    body: RouteMessage, principal: Principal = Depends(get_principal), rt: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    """Route a test message through the real pipeline and return the agent's replies."""
    to = _phone(body.to)
    sender = _phone(body.sender)
    channel = await rt.cache.channel_by_phone(to)
    if channel is None or not principal.can_see(channel.tenant_id):
        raise NotFound(f"No agent found for phone number {to}: no active channel has this number")
    agent = await rt.cache.agent_for_channel(channel.channel_id)
    if agent is None:
        raise NotFound(
            f"No agent found for phone number {to}: channel {channel.channel_id} has no agent mapping"
        )
    thread = f"route:{body.conversation_id or 'default'}"
    result = await exchange(rt, channel, sender, body.message, thread=thread)
    return {
        "agent_id": agent.agent_id,
        "channel_id": channel.channel_id,
        "conversation_id": result.conversation_id,
        "external_conversation_id": body.conversation_id,
        "message_id": result.message_id,
        "replies": result.replies,
        "status": "answered" if result.answered else "pending",
        "needs_human": result.needs_human,
        "needs_human_reason": result.needs_human_reason,
    }


async def _routing_stats(rt: Runtime) -> dict[str, Any]:
    async with rt.db.read() as conn:
        active = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(channels).where(channels.c.active.is_(True))
            )
        ).scalar()
        routes = (
            await conn.execute(
                sa.select(sa.func.count(sa.distinct(mappings.c.channel_id)))
                .select_from(mappings.join(channels, channels.c.channel_id == mappings.c.channel_id))
                .where(channels.c.active.is_(True))
            )
        ).scalar()
        n_agents = (await conn.execute(sa.select(sa.func.count()).select_from(agents))).scalar()
    return {"active_channels": active, "active_routes": routes, "agents": n_agents}


@router.get("/health")
async def health(rt: Runtime = Depends(get_runtime)) -> dict[str, Any]:
    db_ok = await rt.db.ping()
    queue = await rt.queue.depth() if db_ok else {}
    pool = rt.workers
    routing = await _routing_stats(rt) if db_ok else {}
    channels_health = await health_report(rt.db) if db_ok else {}
    return {
        "status": "ok" if db_ok and (pool.running or not rt.settings.run_workers) else "degraded",
        "version": __version__,
        "database": {"ok": db_ok, "backend": "sqlite" if rt.db.is_sqlite else "postgresql"},
        "queue": queue,
        "workers": {
            "running": pool.running,
            "size": pool.size,
            "busy": pool.busy,
            "processed": pool.processed,
            "failed": pool.failed,
        },
        "routing": routing,
        "channels": channels_health,
        # Inbound messages kept raw rather than dropped: unreadable ones (in their conversations, kind
        # "unsupported") and those naming no sender (GET /api/v1/unattributed-messages).
        "inbound": {
            key: sum(h[key] for h in channels_health.values())
            for key in ("unsupported_messages", "unattributed_messages")
        },
    }


@router.get("/messaging-connect/status")
async def messaging_status(rt: Runtime = Depends(get_runtime)) -> dict[str, Any]:
    async with rt.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(channels.c.provider, sa.func.count())
                .where(channels.c.active.is_(True))
                .group_by(channels.c.provider)
            )
        ).all()
    providers = {
        provider: {
            "active_channels": count,
            "sending": "available"
            if rt.adapters.get(provider).provider != "unsupported"
            else "not available in this version",
        }
        for provider, count in rows
    }
    return {"status": "connected" if await rt.db.ping() else "disconnected", "providers": providers}
