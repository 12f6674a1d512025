"""A turn: answer the new inbound messages of one conversation, then deliver what it wrote.

Runs as the conversation's job (one at a time per conversation). The answers, the marking of the
inbound messages as answered and, for in-store channels, the job's completion commit together; the
idempotency key of each outbound row is derived from the turn, so a turn that is run again after a
crash finds its work done and sends nothing twice.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import Connection

from frontdesk.channels.formatting import render
from frontdesk.model.messages import HistoryMessage, Turn
from frontdesk.pipeline.outbox import deliver
from frontdesk.pipeline.queue.base import Job
from frontdesk.store.db import utcnow
from frontdesk.store.tables import contact_identities, conversations, messages

log = structlog.get_logger(__name__)
m = messages.c


class Superseded(Exception):
    """Another run of this conversation answered these messages first (its lease had expired)."""


async def process(rt, job: Job, worker_id: str) -> None:  # type: ignore[no-untyped-def]
    conversation_id = job.lock
    conv, pending = await rt.db.run_read(lambda conn: _load(conn, conversation_id))
    channel = await rt.cache.channel(conv.channel_id) if conv is not None else None
    if conv is None or channel is None:
        await rt.queue.complete(job, worker_id)
        return
    adapter = rt.adapters.simulated if conv.simulated else rt.adapters.get(channel.provider)
    completed = False
    if pending:
        completed = await _turn(rt, job, worker_id, conv, channel, adapter, pending)
    if completed:
        return
    if not adapter.delivers_in_store:
        recipient = await _recipient(rt, conv.contact_id, channel.provider)
        retry_at = await deliver(rt, conversation_id, recipient, channel, adapter)
        if retry_at is not None:
            await rt.queue.retry(job, worker_id, retry_at, None, give_up=False)
            return
    await rt.queue.complete(job, worker_id)


_CONVERSATION = sa.select(
    conversations.c.conversation_id,
    conversations.c.tenant_id,
    conversations.c.channel_id,
    conversations.c.contact_id,
    conversations.c.mode,
    conversations.c.simulated,
    conversations.c.agent_id,
).where(conversations.c.conversation_id == sa.bindparam("cid"))
_PENDING = (
    sa.select(m.id, m.direction, m.text, m.kind, m.created_at)
    .where(m.conversation_id == sa.bindparam("cid"), m.direction == "in", m.turn_id.is_(None))
    .order_by(m.id)
)
_MARK_ANSWERED = (
    messages.update()
    .where(m.id.in_(sa.bindparam("ids", expanding=True)), m.turn_id.is_(None))
    .values(turn_id=sa.bindparam("tid"), updated_at=sa.bindparam("now"))
)


def _load(conn: Connection, conversation_id: str) -> tuple[Any, list]:
    conv = conn.execute(_CONVERSATION, {"cid": conversation_id}).first()
    if conv is None:
        return None, []
    return conv, conn.execute(_PENDING, {"cid": conversation_id}).all()


async def _turn(rt, job: Job, worker_id: str, conv: Any, channel: Any, adapter: Any, pending: list) -> bool:  # type: ignore[no-untyped-def]
    """Run the agent and write its answers. True if the job was completed in the same transaction."""
    agent_info = await rt.cache.agent_for_channel(channel.channel_id)
    tenant = await rt.cache.tenant(conv.tenant_id)
    texts: list[str] = []
    flag: str | None = None
    if conv.mode == "human":
        pass  # a person has the conversation: the inbox shows the message, the agent stays silent
    elif agent_info is None:
        flag = f"No agent found for channel {channel.channel_id}"
    elif agent_info.status == "paused":
        return False  # held: answered when the agent is resumed (requeue_unanswered)
    elif agent_info.status == "stopped":
        away = (tenant.settings if tenant else {}).get("away_message")
        texts = [away] if away else []
    else:
        new = [HistoryMessage(r.id, "in", r.text, r.kind, r.created_at) for r in pending]
        turn = Turn(
            tenant_id=conv.tenant_id,
            agent_id=agent_info.agent_id,
            channel_id=channel.channel_id,
            channel_type=channel.channel_type,
            conversation_id=conv.conversation_id,
            contact_id=conv.contact_id,
            new_messages=new,
            history=await _history(
                rt, conv.conversation_id, pending[0].id, int(agent_info.config.get("history_messages", 10))
            ),
            tenant={"tenant_id": tenant.tenant_id, "name": tenant.name, "timezone": tenant.timezone}
            if tenant
            else {},
            agent_config=agent_info.config,
        )
        agent = await rt.agents.build(rt.db, agent_info, tenant.revision if tenant else 0)
        reply = await agent.reply(turn)
        texts = [t for t in reply.texts if t and t.strip()]
        if reply.handoff:
            flag = reply.reason or "the agent asked for a person"
    turn_id = f"{conv.conversation_id}:{pending[-1].id}"
    in_store = adapter.delivers_in_store
    # Formatted and split here, not at send time: each part is its own row with its own
    # idempotency key, so a part that failed is retried without sending the others again.
    texts = [part for text in texts for part in render(text, channel.channel_type, channel.provider)]
    now = utcnow()

    def write(conn: Connection) -> None:
        marked = conn.execute(_MARK_ANSWERED, {"ids": [r.id for r in pending], "tid": turn_id, "now": now})
        if marked.rowcount != len(pending):
            raise Superseded
        if texts:
            conn.execute(
                messages.insert(),
                [
                    {
                        "tenant_id": conv.tenant_id,
                        "conversation_id": conv.conversation_id,
                        "channel_id": channel.channel_id,
                        "direction": "out",
                        "kind": "text",
                        "text": text,
                        "idempotency_key": f"{turn_id}:{i}",
                        "turn_id": turn_id,
                        "status": "sent" if in_store else "queued",
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, text in enumerate(texts)
                ],
            )
        values: dict = {}
        if agent_info is not None and agent_info.agent_id != conv.agent_id:
            values["agent_id"] = agent_info.agent_id
        if flag:
            values.update(needs_human=True, needs_human_reason=flag)
        if values:
            conn.execute(
                conversations.update()
                .where(conversations.c.conversation_id == conv.conversation_id)
                .values(updated_at=now, **values)
            )
        if in_store:
            rt.queue.complete_in(conn, job, worker_id)

    try:
        await rt.db.run_write(write)
    except Superseded:
        log.info("turn superseded", conversation_id=conv.conversation_id)
        return False
    if flag:
        log.info("conversation needs a human", conversation_id=conv.conversation_id, reason=flag)
    rt.notifier.publish(conv.conversation_id)
    return in_store


def _history_size(agent) -> int:  # type: ignore[no-untyped-def]
    # The FAQ agent matches each new message on its own; it never reads the history.
    default = 0 if agent.kind == "faq" else 10
    return int(agent.config.get("history_messages", default))


async def _history(rt, conversation_id: str, before_id: int, limit: int) -> list[HistoryMessage]:  # type: ignore[no-untyped-def]
    if limit <= 0:
        return []
    async with rt.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(m.id, m.direction, m.text, m.kind, m.created_at)
                .where(m.conversation_id == conversation_id, m.id < before_id)
                .order_by(m.id.desc())
                .limit(limit)
            )
        ).all()
    return [HistoryMessage(r.id, r.direction, r.text, r.kind, r.created_at) for r in reversed(rows)]


async def _recipient(rt, contact_id: str, provider: str) -> str:  # type: ignore[no-untyped-def]
    ident = contact_identities.c
    async with rt.db.read() as conn:
        return (
            await conn.execute(
                sa.select(ident.address)
                .where(ident.contact_id == contact_id, ident.provider == provider)
                .limit(1)
            )
        ).scalar() or ""


async def requeue_unanswered(rt, tenant_id: str) -> int:  # type: ignore[no-untyped-def]
    """Queue a turn for every conversation of the tenant with unanswered messages (after a resume)."""

    def requeue(conn: Connection) -> list[str]:
        ids = list(
            conn.execute(
                sa.select(m.conversation_id)
                .where(m.tenant_id == tenant_id, m.direction == "in", m.turn_id.is_(None))
                .distinct()
            ).scalars()
        )
        for conversation_id in ids:
            rt.queue.enqueue(conn, tenant_id, conversation_id)
        return ids

    ids = await rt.db.run_write(requeue)
    if ids:
        rt.queue.wake()
    return len(ids)


async def give_up(rt, job: Job, error: str) -> None:  # type: ignore[no-untyped-def]
    """A turn that kept failing: flag the conversation for a person, and stop retrying its messages."""
    now = utcnow()
    async with rt.db.write() as conn:
        await conn.execute(
            messages.update()
            .where(m.conversation_id == job.lock, m.direction == "in", m.turn_id.is_(None))
            .values(turn_id=f"failed:{job.id}", status_reason=error[:500], updated_at=now)
        )
        await conn.execute(
            conversations.update()
            .where(conversations.c.conversation_id == job.lock)
            .values(needs_human=True, needs_human_reason=f"the agent failed: {error[:300]}", updated_at=now)
        )
