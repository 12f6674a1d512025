"""Conversations, read-only: list with filters, and one with its messages."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query

from frontdesk.api.deps import get_principal, get_runtime, scope_tenant
from frontdesk.api.pagination import Page, pagination
from frontdesk.errors import NotFound
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store.db import as_utc
from frontdesk.store.tables import contacts, conversations, messages

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])
c = conversations.c


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


def _base_query() -> sa.Select:
    return sa.select(conversations, contacts.c.display_name, contacts.c.handle).join(
        contacts, contacts.c.contact_id == conversations.c.contact_id
    )


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
    tenant = scope_tenant(principal, tenant_id)
    filters = []
    for column, value in (
        (c.tenant_id, tenant),
        (c.channel_id, channel_id),
        (c.contact_id, contact_id),
        (c.mode, mode),
    ):
        if value is not None:
            filters.append(column == value)
    if needs_human is not None:
        filters.append(c.needs_human.is_(needs_human))
    async with rt.db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(conversations).where(*filters))
        ).scalar()
        rows = (
            await conn.execute(
                _base_query()
                .where(*filters)
                .order_by(c.last_message_at.desc().nulls_last(), c.conversation_id)
                .offset(pg.skip)
                .limit(pg.limit)
            )
        ).all()
    return {"items": [_conversation(r) for r in rows], "total": total, "skip": pg.skip, "limit": pg.limit}


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: str,
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    m = messages.c
    async with rt.db.read() as conn:
        row = (await conn.execute(_base_query().where(c.conversation_id == conversation_id))).first()
        if row is None or not principal.can_see(row.tenant_id):
            raise NotFound(f"conversation {conversation_id!r} not found")
        msgs = (
            await conn.execute(
                sa.select(
                    m.id,
                    m.direction,
                    m.kind,
                    m.text,
                    m.status,
                    m.status_reason,
                    m.error_code,
                    m.provider_message_id,
                    m.attempts,
                    m.possible_duplicate,
                    m.created_at,
                    m.updated_at,
                )
                .where(m.conversation_id == conversation_id)
                .order_by(m.id)
            )
        ).all()
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
