"""The per-tenant ``calendar_state`` row: created on first use, then updated in place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from frontdesk.store.calendar_tables import calendar_state


def ensure(conn: Connection, tenant_id: str, now: datetime) -> Any:
    """The tenant's state row (inserted if missing; two processes doing so at once is fine)."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(calendar_state)
    conn.execute(
        insert.values(tenant_id=tenant_id, busy_attempts=0, updated_at=now).on_conflict_do_nothing(
            index_elements=["tenant_id"]
        )
    )
    return conn.execute(sa.select(calendar_state).where(calendar_state.c.tenant_id == tenant_id)).one()


def update(conn: Connection, tenant_id: str, now: datetime, **values: Any) -> None:
    ensure(conn, tenant_id, now)
    conn.execute(
        calendar_state.update()
        .where(calendar_state.c.tenant_id == tenant_id)
        .values(updated_at=now, **values)
    )


def read(conn: Connection, tenant_id: str) -> Any:
    return conn.execute(sa.select(calendar_state).where(calendar_state.c.tenant_id == tenant_id)).first()
