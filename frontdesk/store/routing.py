"""What the routing configuration holds, as the API reads it: counts for ``/health?detail=true`` and
the messaging status, the channel a proactive message goes out from (through the async engine,
``Database.read``, like every API read)."""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.store.db import Database
from frontdesk.store.tables import agents, channels, mappings


async def routing(db: Database, tenant_id: str | None) -> dict[str, int]:
    """Active channels, channels with a route, and agents (of one tenant, or of all: None)."""
    active_channels = sa.select(channels.c.channel_id).where(channels.c.active.is_(True))
    agent_ids = sa.select(agents.c.agent_id)
    if tenant_id is not None:
        active_channels = active_channels.where(channels.c.tenant_id == tenant_id)
        agent_ids = agent_ids.where(agents.c.tenant_id == tenant_id)
    active = active_channels.subquery()
    routed = sa.select(sa.func.count(sa.distinct(mappings.c.channel_id))).where(
        mappings.c.channel_id.in_(sa.select(active.c.channel_id))
    )

    async with db.read() as conn:
        return {
            "active_channels": (
                await conn.execute(sa.select(sa.func.count()).select_from(active))
            ).scalar_one(),
            "active_routes": (await conn.execute(routed)).scalar_one(),
            "agents": (
                await conn.execute(sa.select(sa.func.count()).select_from(agent_ids.subquery()))
            ).scalar_one(),
        }


_BY_PROVIDER = (
    sa.select(channels.c.provider, sa.func.count())
    .where(channels.c.active.is_(True))
    .group_by(channels.c.provider)
)


async def active_channels_by_provider(db: Database) -> dict[str, int]:
    """provider → its number of active channels (providers with none are absent)."""
    async with db.read() as conn:
        rows = (await conn.execute(_BY_PROVIDER)).all()
    return {provider: count for provider, count in rows}


async def first_active_channel(
    db: Database, tenant_id: str, channel_type: str, channel_id: str | None = None
) -> str | None:
    """The id of the tenant's first active channel of ``channel_type`` (``channel_id`` if it is one)."""
    stmt = sa.select(channels.c.channel_id).where(
        channels.c.tenant_id == tenant_id,
        channels.c.channel_type == channel_type,
        channels.c.active.is_(True),
    )
    if channel_id:
        stmt = stmt.where(channels.c.channel_id == channel_id)
    async with db.read() as conn:
        return (await conn.execute(stmt.order_by(channels.c.channel_id).limit(1))).scalar()
