"""A turn: answer the new inbound messages of one conversation, then deliver what it wrote.

Runs as the conversation's job (one at a time per conversation). The answers, the marking of the
inbound messages as answered and, for in-store channels, the job's completion commit together; the
idempotency key of each outbound row is derived from the turn, so a turn that is run again after a
crash finds its work done and writes no reply twice (a send interrupted by a crash: outbox.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import Connection

from frontdesk.agents import runs
from frontdesk.channels.formatting import render_reply
from frontdesk.model.bsuid import is_bsuid, is_parent, scope_of
from frontdesk.model.config import FaqAgentSettings
from frontdesk.model.messages import AgentReply, HistoryMessage, Turn
from frontdesk.pipeline import turn_history
from frontdesk.pipeline.outbox import deliver
from frontdesk.pipeline.queue.base import Job
from frontdesk.store.db import utcnow
from frontdesk.store.tables import channels, contact_identities, contacts, conversations, messages

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
        recipient = await _recipient(rt, conv.contact_id, channel)
        retry_at = await deliver(rt, conversation_id, recipient, channel, adapter)
        if retry_at is not None:
            await rt.queue.retry(job, worker_id, retry_at, None, give_up=False)
            return
    await rt.queue.complete(job, worker_id)


# The customer's address on the conversation's own provider (tools book and look up by it): their
# number where it is known, else a WhatsApp BSUID.
_UNSCOPED_FIRST = sa.case((contact_identities.c.scope == "", 0), else_=1)
_ADDRESS = (
    sa.select(contact_identities.c.address)
    .where(
        contact_identities.c.contact_id == conversations.c.contact_id,
        contact_identities.c.provider == channels.c.provider,
    )
    .order_by(_UNSCOPED_FIRST, contact_identities.c.id)
    .limit(1)
    .correlate(conversations, channels)
    .scalar_subquery()
)
_CONVERSATION = (
    sa.select(
        conversations.c.conversation_id,
        conversations.c.tenant_id,
        conversations.c.channel_id,
        conversations.c.contact_id,
        conversations.c.mode,
        conversations.c.simulated,
        conversations.c.agent_id,
        contacts.c.display_name,
        _ADDRESS.label("contact_address"),
    )
    .join(contacts, contacts.c.contact_id == conversations.c.contact_id)
    .join(channels, channels.c.channel_id == conversations.c.channel_id)
    .where(conversations.c.conversation_id == sa.bindparam("cid"))
)
_PENDING = (
    sa.select(m.id, m.direction, m.text, m.kind, m.created_at, m.provider_message_id)
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
    buttons: list[str] = []
    flag: str | None = None
    turn_id = f"{conv.conversation_id}:{pending[-1].id}"
    recorder: runs.RunRecorder | None = None
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
        size = turn_history.size(agent_info)
        turn = Turn(
            tenant_id=conv.tenant_id,
            agent_id=agent_info.agent_id,
            channel_id=channel.channel_id,
            channel_type=channel.channel_type,
            conversation_id=conv.conversation_id,
            contact_id=conv.contact_id,
            new_messages=new,
            history=await turn_history.own(rt, conv.conversation_id, pending[0].id, size),
            tenant=_tenant_view(tenant),
            agent_config=agent_info.config,
            agent_name=agent_info.agent_name,
            agent_kind=agent_info.kind,
            channel_provider=channel.provider,
            contact_address=conv.contact_address or "",
            contact_name=conv.display_name,
            turn_id=turn_id,
            cross_channel_history=await turn_history.other_channels(rt, conv, size)
            if agent_info.config.get("cross_channel_history")
            else [],
        )
        recorder = runs.RunRecorder(rt, turn, agent_info)
        reply = await _reply(rt, agent_info, tenant, turn)
        texts = [t for t in reply.texts if t and t.strip()]
        buttons = reply.buttons
        flag = guard(reply, agent_info)
        recorder.finish(reply, flag)
    in_store = adapter.delivers_in_store
    # Formatted and split here, not at send time: each part is its own row with its own
    # idempotency key, so a part that failed is retried without sending the others again. By the
    # channel's own adapter, also for a simulated conversation: it shows what the channel would.
    capabilities = rt.adapters.get(channel.provider).capabilities(channel)
    parts = [
        part
        for i, text in enumerate(texts)
        for part in render_reply(text, buttons if i == len(texts) - 1 else (), capabilities)
    ]
    texts = [text for text, _ in parts]
    now = utcnow()

    def write(conn: Connection) -> None:
        marked = conn.execute(_MARK_ANSWERED, {"ids": [r.id for r in pending], "tid": turn_id, "now": now})
        if marked.rowcount != len(pending):
            raise Superseded
        if parts:
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
                        "payload": payload,
                        "idempotency_key": f"{turn_id}:{i}",
                        "turn_id": turn_id,
                        "status": "sent" if in_store else "queued",
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, (text, payload) in enumerate(parts)
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
        if recorder is not None and recorder.row is not None:
            runs.insert(conn, recorder.row)
        if in_store:
            rt.queue.complete_in(conn, job, worker_id)

    try:
        await rt.db.run_write(write)
    except Superseded:
        log.info("turn superseded", conversation_id=conv.conversation_id)
        if recorder is not None and recorder.row is not None:
            # The run happened, its answers were dropped: keep its trace, marked as such.
            row = {**recorder.row, "status": "superseded"}
            await rt.db.run_write(lambda conn: runs.insert(conn, row))
        return False
    if flag:
        log.info("conversation needs a human", conversation_id=conv.conversation_id, reason=flag)
    rt.notifier.publish(conv.conversation_id)
    if texts and not in_store:
        read_receipt(rt, channel, adapter, pending[-1].provider_message_id)
    return in_store


_receipts: set[asyncio.Task] = set()  # held until done: the loop keeps only weak references


def read_receipt(rt, channel: Any, adapter: Any, provider_message_id: str | None) -> None:  # type: ignore[no-untyped-def]
    """Tell the provider the customer's latest message was read (WhatsApp's blue ticks), once the
    agent has answered it. Best effort, beside the reply: a receipt that fails is logged, not retried."""
    if not provider_message_id:
        return

    async def send() -> None:
        try:
            await adapter.mark_read(provider_message_id, channel, rt.cache.credentials(channel), rt.http)
        except Exception as exc:
            log.warning("read receipt failed", channel_id=channel.channel_id, error=str(exc)[:200])

    task = asyncio.create_task(send())
    _receipts.add(task)
    task.add_done_callback(_receipts.discard)


async def _reply(rt, agent_info, tenant, turn: Turn) -> AgentReply:  # type: ignore[no-untyped-def]
    """The agent's reply; an agent that cannot be built or raises still answers, with its fallback."""
    try:
        agent = await rt.agents.build(rt, agent_info, tenant)
        return await agent.reply(turn)
    except Exception as exc:
        # Agents catch what they expect (llm: endpoint, tools, loop); this is a bug, a stored
        # configuration that no longer validates, or a surprise. Retrying the job would most likely
        # repeat it while the customer waits in silence.
        log.exception("agent failed", agent_id=agent_info.agent_id, conversation_id=turn.conversation_id)
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        fallback = agent_info.config.get("fallback_text") or FaqAgentSettings().fallback_text
        return AgentReply(
            texts=[fallback], confidence=0.0, handoff=True, reason=f"the agent failed: {error}", error=error
        )


def guard(reply: AgentReply, agent_info) -> str | None:  # type: ignore[no-untyped-def]
    """Why the conversation needs a person after this reply, or None.

    A handoff (asked by the agent or by one of its tools) or a confidence under the agent's
    ``confidence_threshold``. The reply is still sent: the review queue that holds unsure replies
    back for a person comes later.
    """
    if reply.handoff:
        return reply.reason or "the agent asked for a person"
    requested = reply.effects.get("handoff")
    if requested:
        return str(requested)
    threshold = _threshold(agent_info)
    if reply.confidence < threshold:
        return f"agent confidence {reply.confidence:.2f} is below the threshold {threshold:.2f}"
    return None


def _threshold(agent_info) -> float:  # type: ignore[no-untyped-def]
    value = agent_info.config.get("confidence_threshold")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return FaqAgentSettings().confidence_threshold if agent_info.kind == "faq" else 0.5


def _tenant_view(tenant) -> dict:  # type: ignore[no-untyped-def]
    if tenant is None:
        return {}
    return {
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "timezone": tenant.timezone,
        "business_profile": tenant.business_profile,
        "settings": tenant.settings,
        "revision": tenant.revision,
    }


async def _recipient(rt, contact_id: str, channel: Any) -> str:  # type: ignore[no-untyped-def]
    """Where the channel reaches the contact: their number (Meta asks for it whenever it is known),
    else their BSUID within the channel's business portfolio (never one another portfolio issued)."""
    ident = contact_identities.c
    scopes = ("", scope_of(channel.channel_id, channel.settings))
    async with rt.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(ident.address).where(
                    ident.contact_id == contact_id,
                    ident.provider == channel.provider,
                    ident.scope.in_(scopes),
                )
            )
        ).scalars()
        return min(rows, key=_reach_order, default="")


def _reach_order(address: str) -> tuple[int, str]:
    return (2 if is_parent(address) else 1 if is_bsuid(address) else 0, address)


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
