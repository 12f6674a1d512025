"""Escalations: one lifecycle record per handoff of a conversation to a person.

``open_escalation`` is the one way a conversation goes to ``human`` mode: it sets the mode and the
flag and opens the record in the caller's transaction; a conversation that already has an open
escalation keeps it (the partial unique index allows one open per conversation).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.model.ids import new_id
from frontdesk.store.db import utcnow
from frontdesk.store.people_tables import escalations
from frontdesk.store.tables import conversations

SOURCES = ("agent_tool", "low_confidence", "customer_asked", "review_rejected", "taken_over")


async def open_escalation(
    conn: AsyncConnection,
    tenant_id: str,
    conversation_id: str,
    source: str,
    reason: str = "",
    now: datetime | None = None,
) -> tuple[str, bool]:
    """Put the conversation in human mode with an open escalation: (escalation_id, opened now)."""
    assert source in SOURCES, source
    now = now or utcnow()
    await conn.execute(
        conversations.update()
        .where(conversations.c.conversation_id == conversation_id, conversations.c.tenant_id == tenant_id)
        .values(mode="human", needs_human=True, needs_human_reason=reason or source, updated_at=now)
    )
    existing = (
        await conn.execute(
            sa.select(escalations.c.escalation_id).where(
                escalations.c.conversation_id == conversation_id, escalations.c.resolved_at.is_(None)
            )
        )
    ).scalar()
    if existing is not None:
        return existing, False
    escalation_id = new_id("esc")
    await conn.execute(
        escalations.insert().values(
            escalation_id=escalation_id,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            reason=reason,
            source=source,
            requested_at=now,
        )
    )
    return escalation_id, True
