"""The SSE response: a client that stops reading is cut off, and every ending gives the slot back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from frontdesk.api.sse import EventStreamResponse

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "GET"}


async def _never_disconnects() -> dict:
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


async def test_a_client_that_takes_no_data_is_cut_off_and_its_slot_released() -> None:
    closed: list[str] = []
    sent: list[dict] = []

    async def events() -> AsyncGenerator[str, None]:
        try:
            while True:
                yield ": keepalive\n\n"
        finally:
            closed.append("generator")

    async def stuck_send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and len(sent) > 2:
            await asyncio.Event().wait()  # the socket's buffer is full and stays full

    response = EventStreamResponse(events(), send_timeout=0.2, on_close=lambda: closed.append("slot"))
    async with asyncio.timeout(2):
        await response(SCOPE, _never_disconnects, stuck_send)
    assert closed == ["generator", "slot"]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200


async def test_a_stream_that_ends_releases_its_slot_once() -> None:
    closed: list[str] = []

    async def events() -> AsyncGenerator[str, None]:
        yield "retry: 2000\n\n"

    async def send(message: dict) -> None:
        pass

    response = EventStreamResponse(events(), send_timeout=1, on_close=lambda: closed.append("slot"))
    await response(SCOPE, _never_disconnects, send)
    assert closed == ["slot"]
