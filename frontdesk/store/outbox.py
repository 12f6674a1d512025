"""The outbox: outbound messages on their way queued → sending → sent (or failed / dead).

``pipeline.outbox`` decides what to send and when; this reads what is queued, claims a row for one
sender, and records outcomes. A claim and an outcome change a row only while it is as its reader
saw it (``attempts`` changes with every claim), so two senders never both own a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Row

from frontdesk.model.routing import ChannelInfo
from frontdesk.store.db import Database, as_utc, utcnow
from frontdesk.store.inbound import Inbound
from frontdesk.store.tables import messages

message = messages.c


@dataclass(frozen=True, slots=True)
class Queued:
    message_id: int
    conversation_id: str
    duplicate: bool


_QUEUED = (
    sa.select(
        message.id,
        message.tenant_id,
        message.text,
        message.payload,
        message.idempotency_key,
        message.status,
        message.attempts,
        message.next_attempt_at,
        message.possible_duplicate,
    )
    .where(
        message.conversation_id == sa.bindparam("cid"),
        message.direction == "out",
        message.status.in_(("queued", "sending")),
    )
    .order_by(message.id)
)
# WhatsApp's 24-hour customer service window counts from the customer's last message.
_LAST_INBOUND_AT = sa.select(sa.func.max(message.created_at)).where(
    message.conversation_id == sa.bindparam("cid"), message.direction == "in"
)
_BY_KEY = sa.select(message.id, message.conversation_id).where(message.idempotency_key == sa.bindparam("key"))


def _as_seen(row: Any, now: datetime) -> sa.ColumnElement[bool]:
    """The row is still as ``row`` read it (``attempts`` changes with every claim)."""
    if row.status == "queued":
        still = message.status == "queued"
    else:
        still = sa.and_(message.status == "sending", message.next_attempt_at < now)
    return sa.and_(message.id == row.id, message.attempts == row.attempts, still)


class Outbox:
    def __init__(self, db: Database, inbound: Inbound) -> None:
        self.db = db
        self.inbound = inbound

    async def queued(self, conversation_id: str) -> tuple[Sequence[Row], datetime | None]:
        """The conversation's outbound messages still to send (``queued``, or ``sending`` by a
        sender that may have died), in order; and when the customer last wrote."""

        def read(conn: Connection) -> tuple[Sequence[Row], datetime | None]:
            rows = conn.execute(_QUEUED, {"cid": conversation_id}).all()
            if not rows:
                return [], None
            return rows, as_utc(conn.execute(_LAST_INBOUND_AT, {"cid": conversation_id}).scalar())

        return await self.db.run_read(read)

    async def claim(self, row: Any, attempt: int, lease: timedelta, possible_duplicate: bool) -> bool:
        """→ ``sending`` (attempt number ``attempt``, leased for ``lease``), by one sender only: False
        if the row changed since ``row`` was read."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": "sending",
            "attempts": attempt,
            "next_attempt_at": now + lease,
            "updated_at": now,
        }
        if possible_duplicate:
            values["possible_duplicate"] = True
        stmt = messages.update().where(_as_seen(row, now)).values(**values)
        return bool(await self.db.run_write(lambda conn: conn.execute(stmt).rowcount))

    async def dead_unclaimed(self, row: Any, reason: str) -> bool:
        """→ ``dead`` without another attempt, if the row is still as ``row`` read it."""
        now = utcnow()
        stmt = (
            messages.update()
            .where(_as_seen(row, now))
            .values(status="dead", status_reason=reason, updated_at=now)
        )
        return bool(await self.db.run_write(lambda conn: conn.execute(stmt).rowcount))

    async def record(self, message_id: int, attempt: int, values: dict[str, Any]) -> bool:
        """The outcome of attempt ``attempt``: ``values`` (status, reason, provider id, …) on the row,
        if that attempt's claim still holds it. False when it does not (recorded by an earlier try
        whose answer was lost, or taken over meanwhile)."""
        stmt = (
            messages.update()
            .where(message.id == message_id, message.status == "sending", message.attempts == attempt)
            .values(updated_at=utcnow(), **values)
        )
        return bool(await self.db.run_write(lambda conn: conn.execute(stmt).rowcount))

    async def queue_proactive(
        self,
        channel: ChannelInfo,
        to: str,
        parts: list[str],
        *,
        payload: dict[str, Any] | None,
        idempotency_key: str | None,
        enqueue: Callable[[Connection, str, str], None],
    ) -> Queued:
        """Write a message the business starts (one row per part) and ``enqueue(conn, tenant_id,
        conversation_id)`` its delivery, in one transaction. The same ``idempotency_key`` again
        returns the first message instead of sending twice."""
        key = f"proactive:{idempotency_key or uuid.uuid4().hex}"

        def write(conn: Connection) -> Queued:
            existing = conn.execute(_BY_KEY, {"key": key}).first()
            if existing is not None:
                return Queued(existing.id, existing.conversation_id, duplicate=True)
            _, conversation_id = self.inbound.conversation_for(conn, channel, to)
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
                    .returning(message.id)
                ).scalar_one()
                for i, part in enumerate(parts)
            ]
            enqueue(conn, channel.tenant_id, conversation_id)
            return Queued(ids[0], conversation_id, duplicate=False)

        return await self.db.run_write(write)
