"""Documented paths of the systems Frontdesk replaces (seed 000): message routing test, health.

``GET /health`` is open (monitors and load balancers call it without credentials), so it tells
only whether the service is up: database, queue and workers, nothing about any tenant. The
per-channel detail (last inbound, last send error) is ``GET /health?detail=true`` with a Bearer
token, scoped to the token's tenant.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
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


async def _routing_stats(rt: Runtime, tenant_id: str | None) -> dict[str, Any]:
    """Active channels, channels with a route, and agents (of one tenant, or of all: None)."""
    active_channels = sa.select(channels.c.channel_id).where(channels.c.active.is_(True))
    agent_ids = sa.select(agents.c.agent_id)
    if tenant_id is not None:
        active_channels = active_channels.where(channels.c.tenant_id == tenant_id)
        agent_ids = agent_ids.where(agents.c.tenant_id == tenant_id)
    active = active_channels.subquery()
    routed = sa.select(sa.func.count(sa.distinct(mappings.c.channel_id))).where(
        mappings.c.channel_id.in_(sa.select(active.c.channel_id))
    )
    async with rt.db.read() as conn:
        n_active = (await conn.execute(sa.select(sa.func.count()).select_from(active))).scalar()
        n_routed = (await conn.execute(routed)).scalar()
        n_agents = (await conn.execute(sa.select(sa.func.count()).select_from(agent_ids.subquery()))).scalar()
    return {"active_channels": n_active, "active_routes": n_routed, "agents": n_agents}


@router.get("/health")
async def health(
    request: Request,
    detail: bool = Query(
        False,
        description="also each channel's last inbound and send outcome, and routing counts: needs a "
        "Bearer token (an admin's sees every tenant, a tenant's only its own)",
    ),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    """Up or down, for load balancers and monitors: open, and without any tenant's data."""
    principal = await get_principal(request, rt) if detail else None
    db_ok = await rt.db.ping()
    pool = rt.workers
    body: dict[str, Any] = {
        "status": "ok" if db_ok and (pool.running or not rt.settings.run_workers) else "degraded",
        "version": __version__,
        "database": {"ok": db_ok, "backend": "sqlite" if rt.db.is_sqlite else "postgresql"},
        "queue": await rt.queue.depth() if db_ok else {},
        "workers": {
            "running": pool.running,
            "size": pool.size,
            "busy": pool.busy,
            "processed": pool.processed,
            "failed": pool.failed,
        },
    }
    if principal is not None:
        body["routing"] = await _routing_stats(rt, principal.tenant_id) if db_ok else {}
        channels_health = await health_report(rt.db, principal.tenant_id) if db_ok else {}
        body["channels"] = channels_health
        # Inbound messages kept raw rather than dropped: unreadable ones (in their conversations, kind
        # "unsupported") and those naming no sender (GET /api/v1/unattributed-messages).
        body["inbound"] = {
            key: sum(h[key] for h in channels_health.values())
            for key in ("unsupported_messages", "unattributed_messages")
        }
    return body


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
