"""Messages the business starts (seed 003's proactive send): queued in the outbox like replies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.channels.formatting import render
from frontdesk.pipeline.cache import ChannelInfo
from frontdesk.store.db import utcnow
from frontdesk.store.tables import messages


@dataclass(frozen=True, slots=True)
class Queued:
    message_id: int
    conversation_id: str
    duplicate: bool


async def queue_message(
    rt,  # type: ignore[no-untyped-def]
    channel: ChannelInfo,
    to: str,
    text: str,
    *,
    payload: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Queued:
    """Write one outbound message and queue its conversation's delivery, in one transaction.

    The same ``idempotency_key`` again returns the first message instead of sending twice.
    """
    key = f"proactive:{idempotency_key or uuid.uuid4().hex}"
    parts = render(text, rt.adapters.get(channel.provider).capabilities(channel)) or [text]

    def write(conn: Connection) -> Queued:
        existing = conn.execute(
            sa.select(messages.c.id, messages.c.conversation_id).where(messages.c.idempotency_key == key)
        ).first()
        if existing is not None:
            return Queued(existing.id, existing.conversation_id, duplicate=True)
        _, conversation_id = rt.ingest.conversation_for(conn, channel, to)
        now = utcnow()
        ids = [
            conn.execute(
                messages.insert()
                .values(
                    tenant_id=channel.tenant_id,
                    conversation_id=conversation_id,
                    channel_id=channel.channel_id,
                    direction="out",
                    kind="text",
                    text=part,
                    payload=(payload or None) if i == 0 else None,
                    idempotency_key=key if i == 0 else f"{key}:{i}",
                    turn_id=key,
                    status="queued",
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(messages.c.id)
            ).scalar_one()
            for i, part in enumerate(parts)
        ]
        message_id = ids[0]
        rt.queue.enqueue(conn, channel.tenant_id, conversation_id)
        return Queued(message_id, conversation_id, duplicate=False)

    queued = await rt.db.run_write(write)
    rt.queue.wake()
    return queued
