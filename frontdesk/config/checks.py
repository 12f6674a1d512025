"""The write path's side of the rules: fetch the few stored rows one change can collide with.

A full snapshot per write would be simple but grows with the deployment; these queries are
bounded by the indexes. The rules themselves and their wording live in ``validation.py``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.config import repository as repo
from frontdesk.config import validation as rules
from frontdesk.config.repository import Kind
from frontdesk.store.tables import agents, channels, mappings, tenants


async def find_issues(
    conn: AsyncConnection, k: Kind, pub: dict[str, Any], visible: rules.Visible, *, creating: bool
) -> list[rules.Issue]:
    """Every rule ``pub`` would break if written now (duplicate id only when ``creating``)."""
    object_id = pub[k.id_field]
    if creating and await repo.fetch(conn, k, object_id) is not None:
        return [rules.duplicate_id(k, object_id)]
    if k.name == "tenant":
        return []
    tenant = (
        await conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == pub["tenant_id"]))
    ).first()
    if tenant is None:
        return [rules.unknown_tenant(k.name, object_id, pub["tenant_id"])]
    if k.name == "channel":
        return await _channel(conn, pub, visible)
    if k.name == "mapping":
        return await _mapping(conn, pub)
    if k.name == "agent":
        return await _router(conn, pub)
    return []


async def _router(conn: AsyncConnection, pub: dict[str, Any]) -> list[rules.Issue]:
    targets = rules.route_targets(pub)
    if not targets:
        return []
    stmt = sa.select(agents).where(agents.c.agent_id.in_(targets))
    found = {r.agent_id: repo.public(repo.KINDS["agent"], r) for r in (await conn.execute(stmt)).all()}
    return rules.router_refs(pub, found)


async def _channel(conn: AsyncConnection, pub: dict[str, Any], visible: rules.Visible) -> list[rules.Issue]:
    if not pub["active"]:
        return []
    same = sa.and_(channels.c.provider == pub["provider"], channels.c.routing_key == pub["routing_key"])
    if pub["phone_number"]:
        same = sa.or_(same, channels.c.phone_number == pub["phone_number"])
    stmt = (
        sa.select(channels)
        .where(channels.c.active.is_(True), channels.c.channel_id != pub["channel_id"], same)
        .order_by(channels.c.channel_id)
    )
    kind = repo.KINDS["channel"]
    others = [repo.public(kind, r) for r in (await conn.execute(stmt)).all()]
    found = [rules.phone_conflict(pub, others, visible), rules.routing_conflict(pub, others, visible)]
    return [f for f in found if f]


async def _mapping(conn: AsyncConnection, pub: dict[str, Any]) -> list[rules.Issue]:
    agent = await repo.fetch(conn, repo.KINDS["agent"], pub["agent_id"])
    channel = await repo.fetch(conn, repo.KINDS["channel"], pub["channel_id"])
    found = rules.mapping_refs(
        pub,
        repo.public(repo.KINDS["agent"], agent) if agent else None,
        repo.public(repo.KINDS["channel"], channel) if channel else None,
    )
    if found:
        return found
    stmt = (
        sa.select(mappings).where(mappings.c.channel_id == pub["channel_id"]).order_by(mappings.c.mapping_id)
    )
    siblings = [repo.public(repo.KINDS["mapping"], r) for r in (await conn.execute(stmt)).all()]
    conflict = rules.mapping_conflict(pub, siblings)
    return [conflict] if conflict else []
