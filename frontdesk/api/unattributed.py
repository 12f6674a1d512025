"""Inbound messages that belong to no conversation (no sender), read-only: what a verified webhook
carried that Frontdesk kept raw instead of dropping, with why (``pipeline.ingest``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends

from frontdesk.api.deps import get_principal, get_runtime, scope_tenant
from frontdesk.api.pagination import Page, pagination
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store import unattributed
from frontdesk.store.db import as_utc

router = APIRouter(prefix="/api/v1/unattributed-messages", tags=["conversations"])


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value is not None else None


@router.get("", summary="Inbound messages that named no sender, kept raw with the reason")
async def list_unattributed(
    tenant_id: str | None = None,
    channel_id: str | None = None,
    pg: Page = Depends(pagination(50, 500)),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    total, rows = await unattributed.page(
        rt.db,
        tenant_id=scope_tenant(principal, tenant_id),
        channel_id=channel_id,
        skip=pg.skip,
        limit=pg.limit,
    )
    items = [
        {
            "id": r.id,
            "tenant_id": r.tenant_id,
            "channel_id": r.channel_id,
            "provider_message_id": r.provider_message_id,
            "reason": r.reason,
            "payload": r.payload,
            "created_at": _iso(r.created_at),
        }
        for r in rows
    ]
    return {"items": items, "total": total, "skip": pg.skip, "limit": pg.limit}
