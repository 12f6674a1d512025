"""The web chat reply stream: a visitor's replies as Server-Sent Events, woken by notifications.

Each reply is ``id: <message id>`` / ``event: message`` / ``data: {"id", "text", "created_at"}``
(plus ``"buttons"``: the titles to offer, when the reply has choices). A stream starts after the
reply id it is given (``Last-Event-ID`` or ``?last_event_id=``), so a reconnecting browser gets
only what it missed.

An idle stream costs no queries: it waits for the notifier (the conversation's key once the
visitor has one; before that, the visitor's key, published when their first message creates the
conversation) and reads the store when woken. A slow poll stays as a safety net. A comment line
keeps proxies from closing a quiet stream; a stream without replies for the idle time, or open for
its maximum time, ends, and the browser reconnects after the ``retry`` it was given. Replies that
the turn handed over with its notification (``Wakeup.take``) are shown without reading the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.notify import visitor_topic
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings

RETRY = "retry: 2000\n\n"  # the browser's reconnection delay, in ms
KEEPALIVE = ": keepalive\n\n"


@dataclass(frozen=True, slots=True)
class StreamTimes:
    heartbeat: float
    idle: float
    duration: float
    poll: float

    @classmethod
    def of(cls, settings: Settings, requested: float | None) -> StreamTimes:
        """The settings' times; ``requested`` (the client's ``?timeout=``) may only shorten the stream."""
        duration = settings.webchat_stream_max_seconds
        return cls(
            heartbeat=settings.webchat_stream_heartbeat_seconds,
            idle=settings.webchat_stream_idle_seconds,
            duration=min(duration, requested) if requested else duration,
            poll=settings.webchat_stream_poll_seconds,
        )


async def _conversation_id(rt: Runtime, channel: ChannelInfo, visitor: str) -> str | None:
    return await rt.store.conversations.of_webchat_visitor(channel, visitor)


async def _replies_after(rt: Runtime, conversation_id: str, after: int) -> Sequence[Any]:
    return await rt.store.replies.sent_after(conversation_id, after)


def _event(row: Any) -> str:
    data = {"id": row.id, "text": row.text, "created_at": row.created_at.isoformat()}
    choices = (row.payload or {}).get("buttons")
    if choices:  # the titles to offer; tapping one sends it as the visitor's text
        data["buttons"] = [c["title"] for c in choices]
    return f"id: {row.id}\nevent: message\ndata: {json.dumps(data)}\n\n"


async def reply_events(
    rt: Runtime, channel: ChannelInfo, visitor: str, after: int, times: StreamTimes
) -> AsyncGenerator[str, None]:
    loop = asyncio.get_running_loop()
    opened = last_reply = last_write = loop.time()
    # Streams opened together (a server restart reconnects them all) poll at different moments.
    poll_at = opened + times.poll * random.uniform(0.5, 1.0)
    yield RETRY
    conversation_id: str | None = None
    with contextlib.ExitStack() as subscriptions:
        wakeup = subscriptions.enter_context(
            rt.notifier.subscribe(visitor_topic(channel.channel_id, visitor))
        )
        check = True
        fresh: list[Any] | None = None  # replies handed over with the wake-up; None: read the store
        while True:
            if check and conversation_id is None:
                fresh = None
                conversation_id = await _conversation_id(rt, channel, visitor)
                if conversation_id is not None:  # subscribed before reading: nothing slips between
                    subscriptions.enter_context(rt.notifier.subscribe(conversation_id, wakeup))
            if check and conversation_id is not None:
                rows = await _replies_after(rt, conversation_id, after) if fresh is None else fresh
                for row in rows:
                    if row.id <= after:  # already shown (read from the store before it came)
                        continue
                    yield _event(row)
                    after = row.id
                    last_reply = last_write = loop.time()
            now = loop.time()
            end = min(opened + times.duration, last_reply + times.idle)
            if now >= end:
                return
            if now - last_write >= times.heartbeat:
                yield KEEPALIVE
                last_write = now = loop.time()
            until = min(end, last_write + times.heartbeat, poll_at)
            check = await rt.notifier.wait(wakeup, max(0.0, until - now))
            fresh = wakeup.take()
            if fresh is not None:
                fresh.sort(key=lambda row: row.id)
            if loop.time() >= poll_at:
                check, fresh = True, None
                poll_at = loop.time() + times.poll
