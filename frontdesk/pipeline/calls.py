"""Phone calls answered by the channel's agent: what the call does next, whichever provider carries it.

A call is one conversation (thread ``call:<call id>``). Each thing the caller says is stored through
``pipeline.receive`` like any inbound message; the call then waits for the agent's reply and speaks
it, listening for the next words. The provider waits only so long for an answer (Twilio: 15 s), so
after ``FRONTDESK_VOICE_REPLY_WAIT_SECONDS`` the caller hears a holding phrase and the provider is
sent back for the reply. The step and turn number travel in the action URL, which the provider
signs like any webhook, and make redelivered requests deduplicate. The adapter
(``channels.voice.VoiceAdapter``) reads the webhooks and writes the steps in its markup; the HTTP
endpoint (``api.voice``) makes the action URLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from frontdesk.channels.base import RawRequest
from frontdesk.channels.voice import CallStep, Ended, HangUp, Listen, Redirect, Transfer, VoiceAdapter
from frontdesk.model.messages import InboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.deps import ReceiveDeps
from frontdesk.pipeline.receive import Receipt, store, verified

# The URL the provider is to post the call's next webhook to, carrying these query parameters
# (those given as None left out).
Action = Callable[..., str]

MAX_SILENCES = 2  # reprompt once, then say goodbye
MAX_WAITS = 3  # holding phrases before apologising
_DB_INT_MAX = 2**63 - 1  # as api.pagination's DB_INT_MAX: the databases' largest integer

PHRASES = {
    "reprompt": "Sorry, I didn't catch that. How can I help you?",
    "goodbye": "I couldn't hear anything, so I'll hang up now. Please call again any time. Goodbye!",
    "holding": "One moment, please.",
    "sorry": "I'm sorry, I can't answer right now. Please call again later. Goodbye!",
    "transfer": "Let me connect you with a person.",
}


async def next_step(deps: ReceiveDeps, adapter: VoiceAdapter, raw: RawRequest, action: Action) -> CallStep:
    """What the call does next, for one of its provider's webhooks (routed and verified first)."""
    channels, _ = await verified(deps, adapter, raw)
    channel = channels[0]
    call = adapter.parse_call(raw)
    if call.call_status in adapter.ended_statuses:
        return Ended()
    lang = str(channel.settings.get("language") or "en-US")
    step = raw.query.get("step", "start")
    turn = _int(raw.query.get("turn"), 1)
    if step == "start":
        return Listen(await _greeting(deps, channel), action(step="gather", turn=1), lang)
    if step == "wait":
        conversation_id = raw.query.get("conv", "")
        after = _int(raw.query.get("after"), 0)
        waits = _int(raw.query.get("waits"), 1)
        return await _answer(deps, action, channel, conversation_id, after, turn, waits, lang)
    if not call.speech_result:
        silences = _int(raw.query.get("silences"), 0) + 1
        if silences >= MAX_SILENCES:
            return HangUp(_text(channel, "goodbye"), lang)
        return Listen(_text(channel, "reprompt"), action(step="gather", turn=turn, silences=silences), lang)
    msg = InboundMessage(
        provider_message_id=f"{call.call_sid}:{turn}",
        sender=call.from_,
        text=call.speech_result,
        payload={"voice": {"call_sid": call.call_sid, "confidence": call.confidence}},
        thread=f"call:{call.call_sid}",
    )
    receipt = Receipt(channels=[channel.channel_id])
    await store(deps, channel, [msg], receipt)
    if not receipt.ingested:  # refused, and kept apart with its reason: nothing for the agent
        return HangUp(_text(channel, "sorry"), lang)
    said = receipt.ingested[0]
    return await _answer(deps, action, channel, said.conversation_id, said.message_id, turn, 0, lang)


async def _answer(
    deps: ReceiveDeps,
    action: Action,
    channel: ChannelInfo,
    conversation_id: str,
    after: int,
    turn: int,
    waits: int,
    lang: str,
) -> CallStep:
    texts, needs_human = await _reply(deps, conversation_id, after, deps.settings.voice_reply_wait_seconds)
    if not texts and not needs_human:
        if waits >= MAX_WAITS:
            return HangUp(_text(channel, "sorry"), lang)
        url = action(step="wait", turn=turn, conv=conversation_id, after=after, waits=waits + 1)
        return Redirect(_text(channel, "holding"), url, lang)
    spoken = " ".join(texts)
    human = channel.settings.get("human_number")
    if needs_human and human:
        return Transfer(f"{spoken} {_text(channel, 'transfer')}".strip(), str(human), lang)
    return Listen(spoken, action(step="gather", turn=turn + 1), lang)


async def _reply(deps: ReceiveDeps, conversation_id: str, after: int, wait: float) -> tuple[list[str], bool]:
    """The agent's reply to the caller's words (outbound rows after ``after``), waiting up to ``wait``."""
    deadline = asyncio.get_running_loop().time() + wait
    with deps.notifier.subscribe(conversation_id) as event:
        while True:
            texts, needs_human, answered = await _load(deps, conversation_id, after)
            if texts or answered:
                return texts, needs_human
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return [], False
            await deps.notifier.wait(event, min(left, 0.5))


async def _load(deps: ReceiveDeps, conversation_id: str, after: int) -> tuple[list[str], bool, bool]:
    texts, needs_human, answered = await deps.store.replies.after(conversation_id, after)
    return texts, needs_human and answered, answered


async def _greeting(deps: ReceiveDeps, channel: ChannelInfo) -> str:
    agent = await deps.cache.agent_for_channel(channel.channel_id)
    if agent is not None and agent.config.get("greeting"):
        return str(agent.config["greeting"])
    if channel.settings.get("greeting"):
        return str(channel.settings["greeting"])
    tenant = await deps.cache.tenant(channel.tenant_id)
    name = channel.settings.get("business_name") or (tenant.name if tenant else "us")
    return f"Hello, you've reached {name}. How can I help you today?"


def _text(channel: ChannelInfo, name: str) -> str:
    """A fixed phrase of the call, overridable per channel in ``settings.voice_phrases``."""
    custom = channel.settings.get("voice_phrases") or {}
    return str(custom.get(name) or PHRASES[name])


def _int(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(0, number), _DB_INT_MAX)  # compared with message ids: within the database's integers
