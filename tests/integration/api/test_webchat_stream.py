"""Web chat SSE streams over real HTTP: woken by notifications (in process, and across processes by
PostgreSQL NOTIFY) instead of polling, capped per session and per address, closed when idle."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from frontdesk.api import webchat_stream
from frontdesk.runtime import Runtime
from tests.conftest import make_settings
from tests.helpers import setup_webchat
from tests.live_http import SseReader, serve_http

HOURS = "what are your opening hours?"
HOURS_ANSWER = "We are open Monday to Friday, 9:00 to 17:00."
NEVER = 3600.0  # the safety poll: out of the way, so only a notification can deliver a reply


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(
        database_url,
        webchat_stream_poll_seconds=NEVER,
        webchat_streams_per_session=2,
        webchat_streams_per_address=3,
    )


async def _session(http: httpx.AsyncClient, channel_id: str) -> str:
    r = await http.post(f"/webchat/{channel_id}/sessions")
    assert r.status_code == 201, r.text
    return r.json()["session"]


def _stream(http: httpx.AsyncClient, channel_id: str, session: str, **kwargs) -> SseReader:  # type: ignore[no-untyped-def]
    return SseReader(http, f"/webchat/{channel_id}/stream", params={"session": session}, **kwargs)


async def _listening(rt: Runtime) -> None:
    """On PostgreSQL, have the runtime's relay listen (it wakes every stream once when it starts)."""
    if rt.notifier.relay is not None:
        with rt.notifier.subscribe("test:warm-up"):
            async with asyncio.timeout(5):
                await rt.notifier.relay.listening.wait()  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def _live(rt: Runtime):  # type: ignore[no-untyped-def]
    async with serve_http(rt) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield http


async def test_a_reply_reaches_an_open_stream_by_notification(runtime) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    channel = ids["channel_id"]
    async with _live(runtime) as http:
        session = await _session(http, channel)
        # Opened before the visitor's first message: the stream learns of the new conversation by
        # the visitor's key, then of the reply by the conversation's.
        async with _stream(http, channel, session) as stream:
            r = await http.post(f"/webchat/{channel}/messages", json={"session": session, "text": HOURS})
            assert r.status_code == 202, r.text
            (event,) = await stream.wait_for(1, timeout=10)
            assert event["text"] == HOURS_ANSWER
            r = await http.post(
                f"/webchat/{channel}/messages", json={"session": session, "text": "where are you located?"}
            )
            events = await stream.wait_for(2, timeout=10)
            assert events[1]["text"] == "We are at 12 Harbour Street, Springfield."


async def test_an_idle_stream_reads_the_store_only_when_woken(runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    channel = ids["channel_id"]
    reads = {"conversation": 0, "replies": 0}
    lookup, replies = webchat_stream._conversation_id, webchat_stream._replies_after

    async def counted_lookup(*args):  # type: ignore[no-untyped-def]
        reads["conversation"] += 1
        return await lookup(*args)

    async def counted_replies(*args):  # type: ignore[no-untyped-def]
        reads["replies"] += 1
        return await replies(*args)

    monkeypatch.setattr(webchat_stream, "_conversation_id", counted_lookup)
    monkeypatch.setattr(webchat_stream, "_replies_after", counted_replies)
    await _listening(runtime)
    async with _live(runtime) as http:
        session = await _session(http, channel)
        async with _stream(http, channel, session) as fresh:
            await asyncio.sleep(2.5)  # the old stream polled 4 times a second before a conversation
            assert reads == {"conversation": 1, "replies": 0}
            await http.post(f"/webchat/{channel}/messages", json={"session": session, "text": HOURS})
            await fresh.wait_for(1)
            await asyncio.sleep(0.3)
        settled = dict(reads)
        async with _stream(http, channel, session, headers={"Last-Event-ID": str(fresh.events[0]["id"])}):
            await asyncio.sleep(2.5)  # ... and once a second after
        assert reads["conversation"] - settled["conversation"] == 1
        assert reads["replies"] - settled["replies"] == 1


async def test_streams_are_capped_per_session_and_per_address(runtime) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    channel = ids["channel_id"]
    async with _live(runtime) as http, contextlib.AsyncExitStack() as open_streams:
        first, second = await _session(http, channel), await _session(http, channel)
        a1 = await open_streams.enter_async_context(_stream(http, channel, first))
        a2 = await open_streams.enter_async_context(_stream(http, channel, first))
        assert a1.status == a2.status == 200
        refused = await http.get(f"/webchat/{channel}/stream", params={"session": first})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "chat session (limit 2)" in refused.json()["error"]["message"]
        assert int(refused.headers["Retry-After"]) >= 1

        b1 = await open_streams.enter_async_context(_stream(http, channel, second))  # 3rd from 127.0.0.1
        assert b1.status == 200
        third = await _session(http, channel)
        refused = await http.get(f"/webchat/{channel}/stream", params={"session": third})
        assert refused.status_code == 429
        assert "from your address (limit 3)" in refused.json()["error"]["message"]
        # Behind a trusted proxy (uvicorn trusts 127.0.0.1), the visitor's own address counts.
        proxied = _stream(http, channel, third, headers={"X-Forwarded-For": "203.0.113.7"})
        async with proxied:
            assert proxied.status == 200

        # A closed stream gives its slots back.
        await a1.close()
        async with asyncio.timeout(5):
            while True:
                again = _stream(http, channel, first)
                async with again:
                    if again.status == 200:
                        break
                await asyncio.sleep(0.05)


async def test_a_quiet_stream_gets_heartbeats_and_is_closed_when_idle(runtime) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    channel = ids["channel_id"]
    runtime.settings.webchat_stream_heartbeat_seconds = 0.2
    runtime.settings.webchat_stream_idle_seconds = 1.0
    async with _live(runtime) as http:
        session = await _session(http, channel)
        loop = asyncio.get_running_loop()
        opened = loop.time()
        async with _stream(http, channel, session) as stream:
            await asyncio.wait_for(stream.ended.wait(), 5)
        assert 0.9 <= loop.time() - opened < 3
        assert stream.lines[0] == "retry: 2000"
        assert stream.lines.count(": keepalive") >= 3

        # A reply restarts the idle time; the whole stream still ends at its maximum.
        runtime.settings.webchat_stream_max_seconds = 2.0
        opened = loop.time()
        async with _stream(http, channel, session) as stream:
            await asyncio.sleep(0.6)
            await http.post(f"/webchat/{channel}/messages", json={"session": session, "text": HOURS})
            await stream.wait_for(1)
            await asyncio.wait_for(stream.ended.wait(), 5)
        assert 1.5 <= loop.time() - opened < 3.5


async def test_a_reply_written_by_another_process_arrives_by_notify(pg_database: str) -> None:
    """PostgreSQL: the stream's server runs no workers; another runtime (as `frontdesk worker` or a
    second `frontdesk serve` would) takes the message and writes the reply. Only NOTIFY can wake
    the stream: its safety poll is an hour away."""
    server = Runtime(make_settings(pg_database, run_workers=False, webchat_stream_poll_seconds=NEVER))
    other = Runtime(make_settings(pg_database))
    await server.start()
    await other.start()
    try:
        ids = await setup_webchat(server)
        channel = ids["channel_id"]
        async with _live(server) as http, _live(other) as other_http:
            session = await _session(http, channel)
            await _listening(server)
            async with _stream(http, channel, session) as stream:
                # The first message goes to the other server: the new conversation's key crosses too.
                body = {"session": session, "text": HOURS}
                r = await other_http.post(f"/webchat/{channel}/messages", json=body)
                assert r.status_code == 202, r.text
                (event,) = await stream.wait_for(1, timeout=10)
                assert event["text"] == HOURS_ANSWER
                assert server.workers.processed == 0 and other.workers.processed == 1
    finally:
        await other.stop()
        await server.stop()
