"""Which agent a router handed a conversation to, so follow-ups stay with it (sticky routing).

One row per (conversation, router). The row is refreshed on every turn; it is ignored once older
than the router's idle time, dropped when the router hands the conversation to a person, and
``clear`` drops it when a conversation is closed (resolved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.store.db import as_utc, utcnow
from frontdesk.store.dialect import insert
from frontdesk.store.router_tables import router_state
from frontdesk.store.tables import conversations


@dataclass(frozen=True)
class Sticky:
    target: str
    confidence: float
    updated_at: datetime
    conversation_mode: str


async def load(db: Any, conversation_id: str, router_agent_id: str) -> Sticky | None:
    s, c = router_state.c, conversations.c
    stmt = (
        sa.select(s.target_agent_id, s.confidence, s.updated_at, c.mode)
        .join(conversations, c.conversation_id == s.conversation_id)
        .where(s.conversation_id == conversation_id, s.router_agent_id == router_agent_id)
    )
    async with db.read() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    updated = as_utc(row.updated_at)
    assert updated is not None
    return Sticky(row.target_agent_id, row.confidence, updated, row.mode)


async def save(
    db: Any, tenant_id: str, conversation_id: str, router_agent_id: str, target: str, confidence: float
) -> None:
    values = {"target_agent_id": target, "confidence": confidence, "updated_at": utcnow()}
    stmt = insert(db, router_state).values(
        conversation_id=conversation_id, router_agent_id=router_agent_id, tenant_id=tenant_id, **values
    )
    stmt = stmt.on_conflict_do_update(index_elements=["conversation_id", "router_agent_id"], set_=values)
    await db.run_write(lambda conn: conn.execute(stmt))


def clear(conn: Connection, conversation_id: str) -> None:
    """Forget every router's choice for a conversation (call it in the transaction that closes it)."""
    conn.execute(router_state.delete().where(router_state.c.conversation_id == conversation_id))


async def forget(db: Any, conversation_id: str) -> None:
    await db.run_write(lambda conn: clear(conn, conversation_id))
