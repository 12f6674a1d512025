"""A Server-Sent Events response that cannot be held open by a client that stopped reading.

uvicorn's ``send`` waits while the socket's write buffer is full, so a client that never reads
would keep its stream (its task, buffers and slot) forever. Here every write must complete within
``send_timeout``; one that does not ends the response (uvicorn then closes the connection).
``on_close`` runs however the response ends: finished, disconnected, cut off or failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

import structlog
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _SlowClient(Exception):
    pass


class EventStreamResponse(StreamingResponse):
    def __init__(
        self, events: AsyncGenerator[str, None], *, send_timeout: float, on_close: Callable[[], None]
    ) -> None:
        super().__init__(events, media_type="text/event-stream", headers=HEADERS)
        self._events = events
        self.send_timeout = send_timeout
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def timed_send(message: Message) -> None:
            try:
                async with asyncio.timeout(self.send_timeout):
                    await send(message)
            except TimeoutError:
                raise _SlowClient from None

        try:
            await super().__call__(scope, receive, timed_send)
        except _SlowClient:
            log.info("event stream closed: the client took no data", seconds=self.send_timeout)
        finally:
            try:
                # Cut off between two events, the generator still holds its subscriptions.
                await self._events.aclose()
            finally:
                self.on_close()
