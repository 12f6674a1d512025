"""Conversations, read-only: list with filters, and one with its messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from frontdesk.api.deps import get_principal, get_runtime, scope_tenant
from frontdesk.api.pagination import Page, pagination
from frontdesk.errors import NotFound
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store import conversation_list
from frontdesk.store.db import as_utc

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


def _iso(value: Any) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value is not None else None


def _conversation(row: Any) -> dict[str, Any]:
    return {
        "conversation_id": row.conversation_id,
        "id": row.conversation_id,
        "tenant_id": row.tenant_id,
        "channel_id": row.channel_id,
        "contact_id": row.contact_id,
        "contact_name": row.display_name,
        "contact_handle": row.handle,
        "thread": row.thread,
        "mode": row.mode,
        "needs_human": row.needs_human,
        "needs_human_reason": row.needs_human_reason,
        "agent_id": row.agent_id,
        "simulated": row.simulated,
        "last_message_at": _iso(row.last_message_at),
        "created_at": _iso(row.created_at),
    }


@router.get("")
async def list_conversations(
    tenant_id: str | None = None,
    channel_id: str | None = None,
    contact_id: str | None = None,
    mode: str | None = Query(None, pattern="^(bot|human|closed)$"),
    needs_human: bool | None = None,
    pg: Page = Depends(pagination(50, 500)),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    total, rows = await conversation_list.page(
        rt.db,
        tenant_id=scope_tenant(principal, tenant_id),
        channel_id=channel_id,
        contact_id=contact_id,
        mode=mode,
        needs_human=needs_human,
        skip=pg.skip,
        limit=pg.limit,
    )
    return {"items": [_conversation(r) for r in rows], "total": total, "skip": pg.skip, "limit": pg.limit}


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: str,
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    row, msgs = await conversation_list.with_messages(rt.db, conversation_id, principal.can_see)
    if row is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    out = _conversation(row)
    out["messages"] = [
        {
            "id": r.id,
            "direction": r.direction,
            "kind": r.kind,
            "text": r.text,
            "status": r.status,
            "status_reason": r.status_reason,
            "error_code": r.error_code,
            "provider_message_id": r.provider_message_id,
            "attempts": r.attempts,
            # Sent again after its sender died mid-send: the customer may have received it twice.
            "possible_duplicate": bool(r.possible_duplicate),
            "created_at": _iso(r.created_at),
            "updated_at": _iso(r.updated_at),
        }
        for r in msgs
    ]
    return out
