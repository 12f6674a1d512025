"""What a turn tells its agent about the past: the conversation's last messages and, for agents
that ask for it, the same contact's recent messages on the tenant's other channels.

Both are read through ``run_read`` with statements built once: on the hot path a SQLite read costs
one thread hop instead of a pooled aiosqlite connection per query.
"""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.model.messages import HistoryMessage
from frontdesk.store.tables import channels, conversations, messages

m = messages.c


def size(agent) -> int:  # type: ignore[no-untyped-def]
    # The FAQ agent matches each new message on its own; it never reads the history.
    default = 0 if agent.kind == "faq" else 10
    return int(agent.config.get("history_messages", default))


_c = conversations.c
_CROSS_CHANNEL = (
    sa.select(m.id, m.direction, m.text, m.kind, m.created_at, channels.c.channel_type)
    .join(conversations, _c.conversation_id == m.conversation_id)
    .join(channels, channels.c.channel_id == _c.channel_id)
    .where(
        _c.tenant_id == sa.bindparam("tid"),
        _c.contact_id == sa.bindparam("contact"),
        _c.conversation_id != sa.bindparam("cid"),
    )
    .order_by(m.created_at.desc(), m.id.desc())
    .limit(sa.bindparam("n"))
)


async def other_channels(rt, conv, limit: int) -> list[tuple[str, HistoryMessage]]:  # type: ignore[no-untyped-def]
    """The contact's last ``limit`` messages in the tenant's other conversations, oldest first."""
    if limit <= 0:
        return []
    params = {"tid": conv.tenant_id, "contact": conv.contact_id, "cid": conv.conversation_id, "n": limit}
    rows = await rt.db.run_read(lambda conn: conn.execute(_CROSS_CHANNEL, params).all())
    return [
        (r.channel_type, HistoryMessage(r.id, r.direction, r.text, r.kind, r.created_at))
        for r in reversed(rows)
    ]


_HISTORY = (
    sa.select(m.id, m.direction, m.text, m.kind, m.created_at)
    .where(m.conversation_id == sa.bindparam("cid"), m.id < sa.bindparam("before"))
    .order_by(m.id.desc())
    .limit(sa.bindparam("n"))
)


async def own(rt, conversation_id: str, before_id: int, limit: int) -> list[HistoryMessage]:  # type: ignore[no-untyped-def]
    if limit <= 0:
        return []
    params = {"cid": conversation_id, "before": before_id, "n": limit}
    rows = await rt.db.run_read(lambda conn: conn.execute(_HISTORY, params).all())
    return [HistoryMessage(r.id, r.direction, r.text, r.kind, r.created_at) for r in reversed(rows)]
