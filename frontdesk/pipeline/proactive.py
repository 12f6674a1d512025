"""Messages the business starts (seed 003's proactive send): queued in the outbox like replies."""

from __future__ import annotations

from typing import Any

from frontdesk.channels.formatting import render
from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.deps import QueueDeps
from frontdesk.store.outbox import Queued


async def queue_message(
    deps: QueueDeps,
    channel: ChannelInfo,
    to: str,
    text: str,
    *,
    payload: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Queued:
    """Write one outbound message and queue its conversation's delivery, in one transaction.

    The same ``idempotency_key`` again returns the first message instead of sending twice.
    """
    parts = render(text, deps.adapters.get(channel.provider).capabilities(channel)) or [text]
    queued = await deps.store.outbox.queue_proactive(
        channel, to, parts, payload=payload, idempotency_key=idempotency_key, enqueue=deps.queue.enqueue
    )
    deps.queue.wake()
    return queued
