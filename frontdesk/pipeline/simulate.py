"""Talk to a channel's agent as a customer would, through the real pipeline, and wait for the answer.

Used by ``POST /route/message`` and ``frontdesk chat``. The conversation is marked simulated: its
replies stay in the store for the caller instead of going out through the provider.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import sqlalchemy as sa

from frontdesk.model.ids import new_id
from frontdesk.model.messages import InboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.store.tables import conversations, messages


@dataclass(slots=True)
class Exchange:
    conversation_id: str
    message_id: int
    replies: list[str] = field(default_factory=list)
    answered: bool = False
    needs_human: bool = False
    needs_human_reason: str | None = None


async def exchange(
    rt,
    channel: ChannelInfo,
    sender: str,
    text: str,
    *,
    thread: str = "",
    timeout: float = 15.0,  # type: ignore[no-untyped-def]
) -> Exchange:
    stored = await rt.ingest.message(
        channel,
        InboundMessage(provider_message_id=new_id("sim"), sender=sender, text=text, thread=thread),
        simulated=True,
    )
    result = Exchange(conversation_id=stored.conversation_id, message_id=stored.message_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    m = messages.c
    with rt.notifier.subscribe(stored.conversation_id) as wakeup:
        while True:
            async with rt.db.read() as conn:
                turn_id = (await conn.execute(sa.select(m.turn_id).where(m.id == stored.message_id))).scalar()
                if turn_id is not None:
                    result.replies = list(
                        (
                            await conn.execute(
                                sa.select(m.text)
                                .where(m.turn_id == turn_id, m.direction == "out")
                                .order_by(m.id)
                            )
                        ).scalars()
                    )
                    conv = (
                        await conn.execute(
                            sa.select(conversations.c.needs_human, conversations.c.needs_human_reason).where(
                                conversations.c.conversation_id == stored.conversation_id
                            )
                        )
                    ).one()
                    result.answered = True
                    result.needs_human, result.needs_human_reason = conv.needs_human, conv.needs_human_reason
                    return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                return result
            await rt.notifier.wait(wakeup, min(0.5, remaining))
