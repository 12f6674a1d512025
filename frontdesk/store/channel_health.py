"""Channel health rows: each channel's last inbound and last send outcome, and counters of the
inbound messages kept raw (``channels.health`` decides when to write them)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Row

from frontdesk.model.routing import ChannelInfo
from frontdesk.store.channel_tables import channel_health
from frontdesk.store.db import Database, utcnow
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


async def rows(db: Database, tenant_id: str | None = None) -> list[Row]:
    """Every channel's health row (of one tenant), by channel id."""
    stmt = sa.select(channel_health).order_by(health.channel_id)
    if tenant_id is not None:
        stmt = stmt.where(health.tenant_id == tenant_id)
    return await db.run_read(lambda conn: conn.execute(stmt).all())
