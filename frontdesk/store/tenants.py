"""The tenant every installation starts with, so a fresh database takes configuration at once."""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.model.config import DEFAULT_TENANT
from frontdesk.store.db import Database, utcnow
from frontdesk.store.dialect import insert
from frontdesk.store.tables import tenants


async def ensure_default_tenant(db: Database) -> None:
    async with db.read() as conn:
        exists = (
            await conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == DEFAULT_TENANT))
        ).first()
    if exists:
        return
    async with db.write() as conn:
        stmt = (
            insert(db, tenants)
            .values(
                tenant_id=DEFAULT_TENANT,
                name="Default",
                business_profile={},
                timezone="UTC",
                settings={},
                revision=0,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        await conn.execute(stmt)


async def get(db: Database, tenant_id: str) -> sa.Row | None:
    """The tenant's row; None if there is no such tenant."""
    async with db.read() as conn:
        return (await conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id))).first()
