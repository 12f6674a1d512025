"""What the hot path needs to know about configuration, cached briefly.

Ingest and turns look up a channel, its agent and its tenant on every message; configuration
changes rarely. Entries live ``ttl`` seconds (so other processes' changes show within that time) and
this process drops them at once on its own changes.

An expired entry is loaded once however many callers want it meanwhile (they await the same load),
through the database's threads (``Database.run_read``) with statements built once: on expiry a
burst of messages would otherwise each run the same query through the async engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from frontdesk.model.routing import AgentInfo, ChannelInfo, TenantInfo, agent_info, channel_info
from frontdesk.security.secrets import SecretBox
from frontdesk.store.db import Database
from frontdesk.store.tables import agents, channels, mappings, tenants


class RoutingCache:
    def __init__(self, db: Database, secrets: SecretBox, ttl: float = 2.0) -> None:
        self.db = db
        self.secrets = secrets
        self.ttl = ttl
        self._entries: dict[tuple, tuple[float, Any]] = {}
        self._loading: dict[tuple, asyncio.Future] = {}
        self._generation = 0  # bumped by invalidate(): a load begun before it is not kept
        self._credentials: dict[str, dict[str, Any]] = {}

    def invalidate(self) -> None:
        self._entries.clear()
        self._loading.clear()
        self._generation += 1

    async def _cached(self, key: tuple, load: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        loading = self._loading.get(key)
        if loading is not None:
            # shield: one waiter cancelled does not cancel the load the others wait for
            return await asyncio.shield(loading)
        loading = asyncio.ensure_future(self._load(key, load, now))
        self._loading[key] = loading
        return await asyncio.shield(loading)

    async def _load(self, key: tuple, load: Callable[[], Awaitable[Any]], now: float) -> Any:
        generation = self._generation
        try:
            value = await load()
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]
        if generation == self._generation:
            self._entries[key] = (now + self.ttl, value)
        return value

    def credentials(self, channel: ChannelInfo) -> dict[str, Any]:
        """The channel's decrypted credentials; decrypted once per stored value, not per webhook."""
        token = channel.credentials_token
        found = self._credentials.get(token)
        if found is None:
            if len(self._credentials) > 10_000:
                self._credentials.clear()
            found = self._credentials[token] = self.secrets.decrypt_json(token)
        return dict(found)

    async def channel(self, channel_id: str) -> ChannelInfo | None:
        hit = self._entries.get(("channel", channel_id))
        if hit is not None and hit[0] > time.monotonic():  # the hot path: no closure, no coroutine
            return hit[1]
        return await self._cached(("channel", channel_id), lambda: self._load_channel_by_id(channel_id))

    async def channel_by_phone(self, phone: str) -> ChannelInfo | None:
        where = sa.and_(channels.c.phone_number == phone, channels.c.active.is_(True))
        return await self._cached(("phone", phone), lambda: self._load_channel(where))

    async def channel_by_routing_key(self, provider: str, key: str) -> ChannelInfo | None:
        hit = self._entries.get(("routing", provider, key))
        if hit is not None and hit[0] > time.monotonic():  # the hot path: skip building the query
            return hit[1]

        def load():
            where = sa.and_(
                channels.c.provider == provider, channels.c.routing_key == key, channels.c.active.is_(True)
            )
            return self._load_channel(where)

        return await self._cached(("routing", provider, key), load)

    async def active_channels(self, provider: str) -> list[ChannelInfo]:
        """Every active channel of a provider (subscription handshakes check them all)."""

        async def load() -> list[ChannelInfo]:
            where = sa.and_(channels.c.provider == provider, channels.c.active.is_(True))
            async with self.db.read() as conn:
                rows = (await conn.execute(sa.select(channels).where(where))).all()
            return [channel_info(r) for r in rows]

        return await self._cached(("provider", provider), load)

    async def tenant(self, tenant_id: str) -> TenantInfo | None:
        return await self._cached(("tenant", tenant_id), lambda: self._load_tenant(tenant_id))

    async def agent_for_channel(self, channel_id: str) -> AgentInfo | None:
        """The channel's primary agent, else its mapping with the lowest priority (then the oldest)."""
        return await self._cached(("route", channel_id), lambda: self._load_route(channel_id))

    async def _load_channel(self, where: sa.ColumnElement) -> ChannelInfo | None:
        stmt = sa.select(channels).where(where)
        row = await self.db.run_read(lambda conn: conn.execute(stmt).first())
        return None if row is None else channel_info(row)

    async def _load_channel_by_id(self, channel_id: str) -> ChannelInfo | None:
        params = {"cid": channel_id}
        row = await self.db.run_read(lambda conn: conn.execute(_CHANNEL, params).first())
        return None if row is None else channel_info(row)

    async def _load_tenant(self, tenant_id: str) -> TenantInfo | None:
        params = {"tid": tenant_id}
        row = await self.db.run_read(lambda conn: conn.execute(_TENANT, params).first())
        if row is None:
            return None
        return TenantInfo(
            tenant_id=row.tenant_id,
            name=row.name,
            timezone=row.timezone,
            business_profile=row.business_profile or {},
            settings=row.settings or {},
            revision=row.revision,
        )

    async def _load_route(self, channel_id: str) -> AgentInfo | None:
        params = {"cid": channel_id}
        row = await self.db.run_read(lambda conn: conn.execute(_ROUTE, params).first())
        return None if row is None else agent_info(row)


_CHANNEL = sa.select(channels).where(channels.c.channel_id == sa.bindparam("cid"))
_TENANT = sa.select(tenants).where(tenants.c.tenant_id == sa.bindparam("tid"))
_ROUTE = (
    sa.select(agents)
    .join(mappings, mappings.c.agent_id == agents.c.agent_id)
    .where(mappings.c.channel_id == sa.bindparam("cid"))
    .order_by(
        mappings.c.is_primary.desc(),
        mappings.c.priority,
        mappings.c.created_at,
        mappings.c.mapping_id,
    )
    .limit(1)
)
