"""A turn: answer the new inbound messages of one conversation, then deliver what it wrote.

Runs as the conversation's job (one at a time per conversation). The answers, the marking of the
inbound messages as answered and, for in-store channels, the job's completion commit together; the
idempotency key of each outbound row is derived from the turn, so a turn that is run again after a
crash finds its work done and writes no reply twice (a send interrupted by a crash: outbox.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from frontdesk.agents import runs
from frontdesk.channels.base import ChannelAdapter
from frontdesk.channels.capabilities import Capabilities
from frontdesk.channels.formatting import render_reply
from frontdesk.errors import Superseded
from frontdesk.model.config import FaqAgentSettings
from frontdesk.model.messages import AgentReply, HistoryMessage, Turn
from frontdesk.model.routing import AgentInfo, ChannelInfo, TenantInfo
from frontdesk.pipeline import turn_history
from frontdesk.pipeline.deps import TurnDeps
from frontdesk.pipeline.outbox import deliver
from frontdesk.pipeline.queue.base import Job
from frontdesk.store.conversations import PendingMessage, TurnAnswer, TurnConversation
from frontdesk.store.db import utcnow

log = structlog.get_logger(__name__)


async def process(deps: TurnDeps, job: Job, worker_id: str) -> None:
    conv, pending = await deps.store.conversations.for_turn(job.conversation_id)
    channel = await deps.cache.channel(conv.channel_id) if conv is not None else None
    if conv is None or channel is None:
        await deps.queue.complete(job, worker_id)
        return
    adapter = deps.adapters.simulated if conv.simulated else deps.adapters.get(channel.provider)
    if pending and await _turn(deps, job, worker_id, conv, channel, adapter, pending):
        return  # completed with the turn's answers
    if not adapter.delivers_in_store:
        retry_at = await deliver(deps, conv.conversation_id, conv.recipient, channel, adapter)
        if retry_at is not None:
            await deps.queue.retry(job, worker_id, retry_at, None, give_up=False)
            return
    await deps.queue.complete(job, worker_id)


@dataclass(slots=True)
class Decision:
    """What a turn answers: its texts (the buttons go with the last), why the conversation needs a
    person (if it does), and the agent run's trace (if an agent ran)."""

    texts: list[str] = field(default_factory=list)
    buttons: Sequence[Any] = ()
    flag: str | None = None
    run: dict[str, Any] | None = None


async def _turn(
    deps: TurnDeps,
    job: Job,
    worker_id: str,
    conv: TurnConversation,
    channel: ChannelInfo,
    adapter: ChannelAdapter,
    pending: Sequence[PendingMessage],
) -> bool:
    """Decide, then write the answers. True if the job was completed in the same transaction."""
    agent_info = await deps.cache.agent_for_channel(channel.channel_id)
    decision = await _decide(deps, conv, channel, agent_info, pending)
    if decision is None:
        return False  # held: answered when the agent is resumed (requeue_unanswered)
    # Formatted by the channel's own adapter, also for a simulated conversation: it shows what the
    # channel would.
    capabilities = deps.adapters.get(channel.provider).capabilities(channel)
    answer = _answer(conv, adapter, capabilities, pending, agent_info, decision)
    complete = (lambda conn: deps.queue.complete_in(conn, job, worker_id)) if answer.delivered else None
    try:
        sent = await deps.store.conversations.write_turn(answer, complete)
    except Superseded:
        log.info("turn superseded", conversation_id=conv.conversation_id)
        if answer.run is not None:
            # The run happened, its answers were dropped: keep its trace, marked as such.
            await deps.store.conversations.keep_superseded_run(answer.run)
        return False
    if decision.flag:
        log.info("conversation needs a human", conversation_id=conv.conversation_id, reason=decision.flag)
    # In-store deliveries go with the wake-up: the conversation's stream shows them without a read.
    deps.notifier.publish(conv.conversation_id, sent if answer.delivered else None)
    if answer.replies and not answer.delivered:
        read_receipt(deps, channel, adapter, pending[-1].provider_message_id)
    return answer.delivered


async def _decide(
    deps: TurnDeps,
    conv: TurnConversation,
    channel: ChannelInfo,
    agent_info: AgentInfo | None,
    pending: Sequence[PendingMessage],
) -> Decision | None:
    """What to answer; None while the agent is paused (the messages wait for it)."""
    if conv.mode == "human":
        return (
            Decision()
        )  # a person has the conversation: the inbox shows the message, the agent stays silent
    if agent_info is None:
        return Decision(flag=f"No agent found for channel {channel.channel_id}")
    if agent_info.status == "paused":
        return None
    tenant = await deps.cache.tenant(conv.tenant_id)
    if agent_info.status == "stopped":
        away = (tenant.settings if tenant else {}).get("away_message")
        return Decision(texts=[away] if away else [])
    turn = await _build_turn(deps, conv, channel, agent_info, tenant, pending)
    recorder = runs.RunRecorder(deps, turn, agent_info)
    reply = await _reply(deps, agent_info, tenant, turn)
    flag = guard(reply, agent_info)
    run = recorder.finish(reply, flag)
    return Decision([t for t in reply.texts if t and t.strip()], reply.buttons, flag, run)


async def _build_turn(
    deps: TurnDeps,
    conv: TurnConversation,
    channel: ChannelInfo,
    agent_info: AgentInfo,
    tenant: TenantInfo | None,
    pending: Sequence[PendingMessage],
) -> Turn:
    history, cross_channel = await turn_history.load(deps, conv, agent_info, pending[0].id)
    return Turn(
        tenant_id=conv.tenant_id,
        agent_id=agent_info.agent_id,
        channel_id=channel.channel_id,
        channel_type=channel.channel_type,
        conversation_id=conv.conversation_id,
        contact_id=conv.contact_id,
        new_messages=[HistoryMessage(r.id, "in", r.text, r.kind, r.created_at) for r in pending],
        history=history,
        tenant=_tenant_view(tenant),
        agent_config=agent_info.config,
        agent_name=agent_info.agent_name,
        agent_kind=agent_info.kind,
        channel_provider=channel.provider,
        contact_address=conv.recipient,
        contact_name=conv.contact_name,
        turn_id=_turn_id(conv, pending),
        cross_channel_history=cross_channel,
    )


def _turn_id(conv: TurnConversation, pending: Sequence[PendingMessage]) -> str:
    return f"{conv.conversation_id}:{pending[-1].id}"


def _answer(
    conv: TurnConversation,
    adapter: ChannelAdapter,
    capabilities: Capabilities,
    pending: Sequence[PendingMessage],
    agent_info: AgentInfo | None,
    decision: Decision,
) -> TurnAnswer:
    texts = decision.texts
    # Formatted and split here, not at send time: each part is its own row with its own
    # idempotency key, so a part that failed is retried without sending the others again.
    parts = [
        part
        for i, text in enumerate(texts)
        for part in render_reply(text, decision.buttons if i == len(texts) - 1 else (), capabilities)
    ]
    moved_to = agent_info.agent_id if agent_info and agent_info.agent_id != conv.agent_id else None
    return TurnAnswer(
        conversation=conv,
        turn_id=_turn_id(conv, pending),
        answered=[r.id for r in pending],
        replies=parts,
        delivered=adapter.delivers_in_store,
        at=utcnow(),
        agent_id=moved_to,
        needs_human=decision.flag,
        run=decision.run,
    )


_receipts: set[asyncio.Task] = set()  # held until done: the loop keeps only weak references


def read_receipt(
    deps: TurnDeps, channel: ChannelInfo, adapter: ChannelAdapter, provider_message_id: str | None
) -> None:
    """Tell the provider the customer's latest message was read (WhatsApp's blue ticks), once the
    agent has answered it. Best effort, beside the reply: a receipt that fails is logged, not retried."""
    if not provider_message_id:
        return

    async def send() -> None:
        try:
            await adapter.mark_read(provider_message_id, channel, deps.cache.credentials(channel), deps.http)
        except Exception as exc:
            log.warning("read receipt failed", channel_id=channel.channel_id, error=str(exc)[:200])

    task = asyncio.create_task(send())
    _receipts.add(task)
    task.add_done_callback(_receipts.discard)


async def _reply(deps: TurnDeps, agent_info: AgentInfo, tenant: TenantInfo | None, turn: Turn) -> AgentReply:
    """The agent's reply; an agent that cannot be built or raises still answers, with its fallback."""
    try:
        agent = await deps.agents.build(deps, agent_info, tenant)
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


def guard(reply: AgentReply, agent_info) -> str | None:
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


def _threshold(agent_info) -> float:
    value = agent_info.config.get("confidence_threshold")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return FaqAgentSettings().confidence_threshold if agent_info.kind == "faq" else 0.5


def _tenant_view(tenant) -> dict:
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


async def requeue_unanswered(deps: TurnDeps, tenant_id: str) -> int:
    """Queue a turn for every conversation of the tenant with unanswered messages (after a resume)."""
    ids = await deps.store.conversations.requeue_unanswered(tenant_id, deps.queue.enqueue)
    if ids:
        deps.queue.wake()
    return len(ids)


async def give_up(deps: TurnDeps, job: Job, error: str) -> None:
    """A turn that kept failing: flag the conversation for a person, and stop retrying its messages."""
    await deps.store.conversations.give_up(job.conversation_id, f"failed:{job.id}", error)
