"""Agent runs of a conversation: ``GET /api/v1/conversations/{id}/runs`` (oldest first, newest last)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from frontdesk.api.deps import get_principal, get_runtime
from frontdesk.errors import NotFound
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store import conversation_list, runs
from frontdesk.store.db import as_utc

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.get("/{conversation_id}/runs", summary="Agent runs (traces) of a conversation")
async def conversation_runs(
    conversation_id: str,
    limit: int = Query(100, ge=1, le=1000, description="the last N runs"),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    owner = await conversation_list.tenant_of(rt.db, conversation_id)
    if owner is None or not principal.can_see(owner):
        raise NotFound(f"conversation {conversation_id!r} not found")
    return {"items": [_public(r) for r in await runs.of_conversation(rt.db, conversation_id, limit)]}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    started = as_utc(row["started_at"])
    return {**row, "started_at": started.isoformat() if started else None}
