"""Datasets in and out of the database, and the one lookup agents may make: rows of the contact writing.

A lookup never takes a phone number or an e-mail from the model: it starts from the conversation's
contact id, reads that contact's own numbers and addresses, and only matches rows linked to one of
them. So whatever a customer tells the agent, it can only read its own rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from frontdesk.errors import NotFound
from frontdesk.records.importer import Dataset, normalize_contact
from frontdesk.store.db import Database, as_utc, utcnow
from frontdesk.store.records_tables import record_datasets, records
from frontdesk.store.tables import contact_identities, contacts, tenants

CHUNK = 500
d, r = record_datasets.c, records.c


def summary(row: Any) -> dict[str, Any]:
    m = row._mapping if hasattr(row, "_mapping") else row
    updated = as_utc(m["updated_at"])
    return {
        "dataset": m["name"],
        "tenant_id": m["tenant_id"],
        "key_column": m["key_column"],
        "contact_column": m["contact_column"],
        "contact_kind": m["contact_kind"],
        "columns": list(m["columns"] or []),
        "row_count": m["row_count"],
        "updated_at": updated.isoformat() if updated else None,
    }


async def replace(
    db: Database, tenant_id: str, ds: Dataset, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Put ``ds`` in place of the tenant's dataset of that name, in one transaction."""
    now = utcnow()
    meta = {
        "tenant_id": tenant_id,
        "name": ds.name,
        "key_column": ds.key_column,
        "contact_column": ds.contact_column,
        "contact_kind": ds.contact_kind,
        "columns": ds.columns,
        "row_count": len(ds.rows),
        "updated_at": now,
    }
    async with db.write() as conn:
        found = await conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id))
        if found.first() is None:
            raise NotFound(f"tenant {tenant_id!r} not found")
        where = sa.and_(d.tenant_id == tenant_id, d.name == ds.name)
        await conn.execute(records.delete().where(r.tenant_id == tenant_id, r.dataset == ds.name))
        await conn.execute(record_datasets.delete().where(where))
        await conn.execute(record_datasets.insert().values(**meta))
        total = len(ds.rows)
        for start in range(0, total, CHUNK):
            batch = ds.rows[start : start + CHUNK]
            await conn.execute(
                records.insert(),
                [
                    {"tenant_id": tenant_id, "dataset": ds.name, "key": key, "contact": contact, "data": data}
                    for key, contact, data in batch
                ],
            )
            if progress:
                progress(start + len(batch), total)
    return summary(meta)


async def datasets(db: Database, tenant_id: str | None) -> list[dict[str, Any]]:
    stmt = sa.select(record_datasets).order_by(d.tenant_id, d.name)
    if tenant_id is not None:
        stmt = stmt.where(d.tenant_id == tenant_id)
    async with db.read() as conn:
        return [summary(row) for row in (await conn.execute(stmt)).all()]


async def dataset(db: Database, tenant_id: str, name: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            await conn.execute(sa.select(record_datasets).where(d.tenant_id == tenant_id, d.name == name))
        ).first()
    return summary(row) if row else None


async def delete(db: Database, tenant_id: str, name: str) -> bool:
    async with db.write() as conn:
        await conn.execute(records.delete().where(r.tenant_id == tenant_id, r.dataset == name))
        gone = await conn.execute(record_datasets.delete().where(d.tenant_id == tenant_id, d.name == name))
    return gone.rowcount > 0


async def contact_keys(db: Database, tenant_id: str, contact_id: str) -> dict[str, set[str]]:
    """The contact's own phone numbers (E.164) and e-mail addresses (lower case), from the store."""
    out: dict[str, set[str]] = {"phone": set(), "email": set()}
    if not contact_id:
        return out
    ident = contact_identities.c
    async with db.read() as conn:
        phone = (
            await conn.execute(
                sa.select(contacts.c.phone_e164).where(
                    contacts.c.contact_id == contact_id, contacts.c.tenant_id == tenant_id
                )
            )
        ).scalar()
        addresses = (
            await conn.execute(
                sa.select(ident.address).where(ident.contact_id == contact_id, ident.tenant_id == tenant_id)
            )
        ).scalars()
        values = [a for a in addresses if a]
    if phone:
        out["phone"].add(phone)
    for address in values:
        kind = "email" if "@" in address else "phone"
        try:
            out[kind].add(normalize_contact(address, kind))
        except ValueError:
            continue  # a chat id or a session: not a phone number or an address
    return out


async def rows_for(
    db: Database, tenant_id: str, name: str, kind: str, contact_id: str, key: str | None, limit: int = 20
) -> list[dict[str, Any]]:
    """The contact's rows of dataset ``name`` (the one with ``key``, when given)."""
    mine = (await contact_keys(db, tenant_id, contact_id))[kind]
    if not mine:
        return []
    stmt = sa.select(r.key, r.data).where(
        r.tenant_id == tenant_id, r.dataset == name, r.contact.in_(sorted(mine))
    )
    if key is not None:
        # Customers type keys loosely: "pol-1001" finds "POL-1001".
        stmt = stmt.where(sa.func.lower(r.key) == key.strip().lower())
    async with db.read() as conn:
        rows = (await conn.execute(stmt.order_by(r.key).limit(limit))).all()
    return [{"key": row.key, "data": row.data} for row in rows]
