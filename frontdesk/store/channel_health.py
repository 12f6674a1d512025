"""Channel health rows: each channel's last inbound and last send outcome, and counters of the
inbound messages kept raw (``channels.health`` decides when to write them); read back for
``/health`` and the configuration's validation report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.model.routing import ChannelInfo
from frontdesk.store.channel_tables import channel_health
from frontdesk.store.db import Database, as_utc, utcnow
from frontdesk.store.dialect import insert

health = channel_health.c


async def upsert(db: Database, channel: ChannelInfo, values: dict[str, Any]) -> None:
    """Set ``values`` on the channel's row (created if it has none). Raises IntegrityError when the
    channel no longer exists."""
    values = {**values, "updated_at": utcnow()}
    stmt = (
        insert(db, channel_health)
        .values(
            channel_id=channel.channel_id,
            tenant_id=channel.tenant_id,
            **{"needs_attention": False, **values},
        )
        .on_conflict_do_update(index_elements=["channel_id"], set_=values)
    )
    await db.run_write(lambda conn: conn.execute(stmt))


def count(conn: Connection, db: Database, channel: ChannelInfo, column: str) -> None:
    """One more message of ``column``'s sort on the channel's health, in the caller's transaction."""
    counter = channel_health.c[column]
    conn.execute(
        insert(db, channel_health)
        .values(
            channel_id=channel.channel_id,
            tenant_id=channel.tenant_id,
            needs_attention=False,
            updated_at=utcnow(),
            **{column: 1},
        )
        .on_conflict_do_update(index_elements=["channel_id"], set_={column: counter + 1})
    )


_ROWS = sa.select(channel_health).order_by(health.channel_id)


async def report(
    db: Database, tenant_id: str | None = None, visible: Callable[[str], bool] | None = None
) -> dict[str, dict[str, Any]]:
    """channel id → its health, for the channels that have any (of one tenant, or those visible)."""
    stmt = _ROWS if tenant_id is None else _ROWS.where(health.tenant_id == tenant_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return {r.channel_id: _public(r) for r in rows if visible is None or visible(r.tenant_id)}


async def annotate(
    db: Database, validation: dict[str, Any], tenant_id: str | None, visible: Callable[[str], bool]
) -> dict[str, Any]:
    """Add each channel's last inbound and send outcome to a validation report, and warn about
    channels whose provider refused their credentials."""
    channels = await report(db, tenant_id, visible)
    validation["channels"] = channels
    for channel_id, state in channels.items():
        if state["needs_attention"]:
            validation["warnings"].append(
                {
                    "code": "channel_needs_attention",
                    "message": f"Channel '{channel_id}' needs attention: {state['attention_reason']}",
                    "object_type": "channel",
                    "object_id": channel_id,
                }
            )
    return validation


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def _public(row: Any) -> dict[str, Any]:
    return {
        "last_inbound_at": _iso(row.last_inbound_at),
        "last_send_at": _iso(row.last_send_at),
        "last_send_status": row.last_send_status,
        "last_send_error": row.last_send_error,
        "last_send_code": row.last_send_code,
        "needs_attention": bool(row.needs_attention),
        "attention_reason": row.attention_reason,
        # Stored raw instead of dropped (store.inbound): unreadable, or naming no sender.
        "unsupported_messages": row.unsupported_count or 0,
        "unattributed_messages": row.unattributed_count or 0,
    }
