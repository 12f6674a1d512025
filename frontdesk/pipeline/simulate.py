"""Talk to a channel's agent as a customer would, through the real pipeline, and wait for the answer.

Used by ``POST /route/message`` and ``frontdesk chat``. The conversation is marked simulated: its
replies stay in the store for the caller instead of going out through the provider.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from frontdesk.model.ids import new_id
from frontdesk.model.messages import InboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.deps import ReceiveDeps


@dataclass(slots=True)
class Exchange:
    conversation_id: str
    message_id: int
    replies: list[str] = field(default_factory=list)
    answered: bool = False
    needs_human: bool = False
    needs_human_reason: str | None = None


async def exchange(
    deps: ReceiveDeps,
    channel: ChannelInfo,
    sender: str,
    text: str,
    *,
    thread: str = "",
    timeout: float = 15.0,
) -> Exchange:
    stored = await deps.ingest.message(
        channel,
        InboundMessage(provider_message_id=new_id("sim"), sender=sender, text=text, thread=thread),
        simulated=True,
    )
    result = Exchange(conversation_id=stored.conversation_id, message_id=stored.message_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with deps.notifier.subscribe(stored.conversation_id) as wakeup:
        while True:
            answer = await deps.store.replies.answer_to(stored.message_id, stored.conversation_id)
            if answer is not None:
                result.replies = answer.replies
                result.answered = True
                result.needs_human, result.needs_human_reason = answer.needs_human, answer.needs_human_reason
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                return result
            await deps.notifier.wait(wakeup, min(0.5, remaining))
