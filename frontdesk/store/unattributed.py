"""Inbound messages that belong to no conversation (no sender), as the API lists them
(``store.inbound`` keeps them)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Row

from frontdesk.store.channel_tables import unattributed_messages
from frontdesk.store.db import Database

unattributed = unattributed_messages.c


async def page(
    db: Database, *, tenant_id: str | None, channel_id: str | None, skip: int, limit: int
) -> tuple[int, Sequence[Row]]:
    """How many match (None: any), and the ``limit`` after the first ``skip``, the latest first."""
    filters = [
        column == value
        for column, value in ((unattributed.tenant_id, tenant_id), (unattributed.channel_id, channel_id))
        if value
    ]
    total = sa.select(sa.func.count()).select_from(unattributed_messages).where(*filters)
    rows = (
        sa.select(unattributed_messages)
        .where(*filters)
        .order_by(unattributed.id.desc())
        .offset(skip)
        .limit(limit)
    )
    async with db.read() as conn:
        return (await conn.execute(total)).scalar_one(), (await conn.execute(rows)).all()
