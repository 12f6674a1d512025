"""``GET /health``: up or down, for load balancers and monitors.

It is open (monitors and load balancers call it without credentials), so it tells only whether
the service is up: database, queue and workers, nothing about any tenant. The per-channel detail
(last inbound, last send error) is ``GET /health?detail=true`` with a Bearer token, scoped to the
token's tenant. Seed 000 documented the path: it keeps that group in the API's description.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request

from frontdesk import __version__
from frontdesk.api.deps import get_principal, get_runtime
from frontdesk.runtime import Runtime
from frontdesk.store.channel_health import report as health_report
from frontdesk.store.tables import agents, channels, mappings

router = APIRouter(tags=["compatibility"])


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
