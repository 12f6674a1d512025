"""``GET /health``: up or down, for load balancers and monitors.

It is open (monitors and load balancers call it without credentials), so it tells only whether
the service is up: database, queue and workers, nothing about any tenant. The per-channel detail
(last inbound, last send error) is ``GET /health?detail=true`` with a Bearer token, scoped to the
token's tenant. Seed 000 documented the path: it keeps that group in the API's description.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from frontdesk import __version__
from frontdesk.api.deps import get_principal, get_runtime
from frontdesk.runtime import Runtime
from frontdesk.store import channel_health, routing

router = APIRouter(tags=["compatibility"])


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
        body["routing"] = await routing.routing(rt.db, principal.tenant_id) if db_ok else {}
        channels_health = await channel_health.report(rt.db, principal.tenant_id) if db_ok else {}
        body["channels"] = channels_health
        # Inbound messages kept raw rather than dropped: unreadable ones (in their conversations, kind
        # "unsupported") and those naming no sender (GET /api/v1/unattributed-messages).
        body["inbound"] = {
            key: sum(h[key] for h in channels_health.values())
            for key in ("unsupported_messages", "unattributed_messages")
        }
    return body
