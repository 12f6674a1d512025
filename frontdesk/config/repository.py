"""Configuration rows in and out of the database (SQLAlchemy Core), one ``Kind`` per object type.

Rows hold exactly the fields of their pydantic model, so a row's public dict equals the model's
``.public()``. Channel credentials are the exception: stored as a MultiFernet token plus the list
of field names that are set (``credential_fields``), so listing channels never decrypts anything.
Agent and tenant secrets are sealed inside their JSON columns (``agent_secrets``, ``tenant_secrets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.config import agent_secrets, tenant_secrets
from frontdesk.errors import BadRequest
from frontdesk.model.config import (
    AgentChannelMapping,
    AgentConfig,
    BusinessProfile,
    ChannelConfig,
    KnowledgeEntry,
    TenantConfig,
)
from frontdesk.security.secrets import SecretBox
from frontdesk.store.db import as_utc, utcnow
from frontdesk.store.tables import agents, audit_log, channels, knowledge, mappings, tenants


@dataclass(frozen=True)
class Kind:
    """One type of configuration object: its table, id column, model and list filters."""

    name: str
    label: str  # how messages name it: "Agent 'x' already exists"
    table: sa.Table
    id_field: str
    model: type[Any]
    filters: tuple[str, ...] = ()

    @property
    def id_col(self) -> sa.Column:
        return self.table.c[self.id_field]

    @property
    def fields(self) -> list[str]:
        return list(self.model.model_fields)


KINDS: dict[str, Kind] = {
    "tenant": Kind("tenant", "Tenant", tenants, "tenant_id", TenantConfig),
    "agent": Kind("agent", "Agent", agents, "agent_id", AgentConfig, ("status", "kind")),
    "channel": Kind(
        "channel", "Channel", channels, "channel_id", ChannelConfig, ("channel_type", "provider", "active")
    ),
    "mapping": Kind(
        "mapping",
        "Mapping",
        mappings,
        "mapping_id",
        AgentChannelMapping,
        ("agent_id", "channel_id", "is_primary"),
    ),
    "knowledge": Kind("knowledge", "Knowledge entry", knowledge, "id", KnowledgeEntry, ("tag", "q")),
}
ORDER = ("tenant", "agent", "channel", "mapping", "knowledge")  # creation order (references point back)


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise BadRequest(f"unknown object type {name!r} (one of: {', '.join(ORDER)})") from None


def public(kind: Kind, row: Any) -> dict[str, Any]:
    """The API view of a row: the model's fields; for channels ``credentials_set``, never values."""
    data = row._mapping if hasattr(row, "_mapping") else row
    out = {f: data[f] for f in kind.fields if f != "credentials"}
    if kind.name == "channel":
        out["credentials_set"] = sorted(data["credential_fields"] or [])
    elif kind.name == "agent":
        out["config"] = agent_secrets.mask(out["config"])
    elif kind.name == "tenant":
        # Rows written outside the service (the default tenant) may hold a partial profile.
        out["business_profile"] = BusinessProfile.model_validate(out["business_profile"] or {}).model_dump(
            mode="json"
        )
        out["settings"] = tenant_secrets.mask(out["settings"] or {})
    return out


def values(kind: Kind, model: Any, box: SecretBox) -> dict[str, Any]:
    """Column values for a validated model (credentials encrypted)."""
    data = model.model_dump(mode="json")
    if kind.name == "channel":
        creds = {k: v for k, v in data.pop("credentials").items() if v not in (None, "")}
        data["credentials"] = box.encrypt_json(creds)
        data["credential_fields"] = sorted(creds)
    elif kind.name == "agent":
        data["config"] = agent_secrets.seal(data["config"], box)
    elif kind.name == "tenant":
        data["settings"] = tenant_secrets.seal(data["settings"], box)
    return data


def credentials(row: Any, box: SecretBox) -> dict[str, Any]:
    return box.decrypt_json(row._mapping["credentials"] or "")


async def fetch(conn: AsyncConnection, kind: Kind, object_id: str) -> Any:
    return (await conn.execute(sa.select(kind.table).where(kind.id_col == object_id))).first()


def _filtered(kind: Kind, conn: AsyncConnection, tenant_id: str | None, filters: dict[str, Any]) -> list[Any]:
    table = kind.table
    where: list[Any] = []
    if tenant_id is not None:
        where.append(table.c.tenant_id == tenant_id)
    for name, value in filters.items():
        if value is None:
            continue
        if name == "q":
            pattern = f"%{value}%"
            where.append(sa.or_(table.c.question.ilike(pattern), table.c.answer.ilike(pattern)))
        elif name == "tag":
            where.append(_has_tag(conn, table.c.tags, str(value)))
        else:
            where.append(table.c[name] == value)
    return where


def _has_tag(conn: AsyncConnection, column: sa.Column, tag: str) -> Any:
    # JSON arrays differ per database: SQLite's json_each, PostgreSQL's jsonb containment.
    if conn.dialect.name == "sqlite":
        each = sa.func.json_each(column).table_valued("value")
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == tag))
    return sa.cast(column, postgresql.JSONB).contains([tag])


async def select_page(
    conn: AsyncConnection,
    kind: Kind,
    tenant_id: str | None,
    filters: dict[str, Any],
    skip: int = 0,
    limit: int | None = 100,
) -> list[Any]:
    stmt = (
        sa.select(kind.table)
        .where(*_filtered(kind, conn, tenant_id, filters))
        .order_by(kind.id_col)
        .offset(skip)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).all())


async def count(conn: AsyncConnection, kind: Kind, tenant_id: str | None, filters: dict[str, Any]) -> int:
    stmt = (
        sa.select(sa.func.count()).select_from(kind.table).where(*_filtered(kind, conn, tenant_id, filters))
    )
    return int((await conn.execute(stmt)).scalar_one())


async def insert(conn: AsyncConnection, kind: Kind, vals: dict[str, Any]) -> None:
    now = utcnow()
    extra: dict[str, Any] = {"created_at": now, "updated_at": now}
    if kind.name == "tenant":
        extra["revision"] = 0
    await conn.execute(kind.table.insert().values(**vals, **extra))


async def update(conn: AsyncConnection, kind: Kind, object_id: str, vals: dict[str, Any]) -> None:
    await conn.execute(
        kind.table.update().where(kind.id_col == object_id).values(**vals, updated_at=utcnow())
    )


async def delete(conn: AsyncConnection, kind: Kind, object_id: str) -> None:
    await conn.execute(kind.table.delete().where(kind.id_col == object_id))


async def bump_revision(conn: AsyncConnection, tenant_id: str) -> None:
    """Every change bumps its tenant's revision, so caches in any process can tell."""
    await conn.execute(
        tenants.update()
        .where(tenants.c.tenant_id == tenant_id)
        .values(revision=tenants.c.revision + 1, updated_at=utcnow())
    )


async def write_audit(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    actor: str,
    action: str,
    kind: Kind,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            object_type=kind.name,
            object_id=object_id,
            before=before,
            after=after,
            at=utcnow(),
        )
    )


async def audit_page(
    conn: AsyncConnection, tenant_id: str | None, skip: int, limit: int, filters: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    where = [audit_log.c.tenant_id == tenant_id] if tenant_id is not None else []
    where += [audit_log.c[k] == v for k, v in filters.items() if v is not None]
    total = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*where))).scalar_one()
    stmt = sa.select(audit_log).where(*where).order_by(audit_log.c.id.desc()).offset(skip).limit(limit)
    rows = (await conn.execute(stmt)).all()
    items = []
    for row in rows:
        item = dict(row._mapping)
        item["at"] = as_utc(item["at"]).isoformat() if item["at"] is not None else None
        items.append(item)
    return items, int(total)


async def snapshot_rows(conn: AsyncConnection, tenant_id: str | None = None) -> dict[str, list[Any]]:
    """Every tenant, agent, channel and mapping (knowledge is counted, not loaded)."""
    out: dict[str, list[Any]] = {}
    for name in ("tenant", "agent", "channel", "mapping"):
        kind = KINDS[name]
        stmt = sa.select(kind.table).order_by(kind.id_col)
        if tenant_id is not None:
            stmt = stmt.where(kind.table.c.tenant_id == tenant_id)
        out[name] = list((await conn.execute(stmt)).all())
    return out


async def knowledge_tenants(conn: AsyncConnection, tenant_id: str | None = None) -> dict[str, int]:
    stmt = sa.select(knowledge.c.tenant_id, sa.func.count()).group_by(knowledge.c.tenant_id)
    if tenant_id is not None:
        stmt = stmt.where(knowledge.c.tenant_id == tenant_id)
    return {t: int(n) for t, n in (await conn.execute(stmt)).all()}


async def route_rows(conn: AsyncConnection, phone: str, tenant_id: str | None) -> tuple[Any, Any, Any] | None:
    """(channel, mapping, agent) rows answering ``phone``: the active channel with that number, its
    primary mapping, else the mapping with the lowest priority, then the oldest."""
    stmt = sa.select(channels).where(channels.c.phone_number == phone, channels.c.active.is_(True))
    if tenant_id is not None:
        stmt = stmt.where(channels.c.tenant_id == tenant_id)
    channel = (await conn.execute(stmt.order_by(channels.c.channel_id))).first()
    if channel is None:
        return None
    order = (mappings.c.is_primary.desc(), mappings.c.priority, mappings.c.created_at, mappings.c.mapping_id)
    stmt = sa.select(mappings).where(mappings.c.channel_id == channel.channel_id).order_by(*order).limit(1)
    mapping = (await conn.execute(stmt)).first()
    if mapping is None:
        return None
    return channel, mapping, await fetch(conn, KINDS["agent"], mapping.agent_id)
