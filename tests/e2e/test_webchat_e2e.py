"""Web chat against the real ``frontdesk serve``: session → message → reply on the SSE stream,
dedup of client message ids, resume with Last-Event-ID, and every error a browser can meet."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import (
    EventStream,
    Server,
    admin_client,
    answer,
    conversation,
    make_server,
    new_session,
    question,
    seed_webchat,
    texts,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (its tests use separate sessions), seeded with the knowledge base."""
    workdir: Path = tmp_path_factory.mktemp("webchat")
    srv = make_server("webchat", f"sqlite+aiosqlite:///{workdir}/frontdesk.db", workdir)
    srv.admin_token = srv.create_token()
    srv.start()

    async def seed() -> tuple[str, str]:
        async with admin_client(srv) as client:
            first = await seed_webchat(client, tenant_id="e2e", prefix="e2e")
            other = await seed_webchat(client, tenant_id="other", prefix="other", knowledge=[])
            return first, other

    srv.channel_id, srv.other_channel_id = asyncio.run(seed())  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(server) as c:
        yield c


def assert_json_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, f"{r.status_code} {r.text[:500]}"
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body["error"]


async def post_message(
    client: httpx.AsyncClient, channel_id: str, session: str, text: str, client_id: str | None
) -> httpx.Response:
    body = {"session": session, "text": text}
    if client_id is not None:
        body["client_message_id"] = client_id
    return await client.post(f"/webchat/{channel_id}/messages", json=body)


async def test_message_reply_arrives_on_the_stream(server: Server, client: httpx.AsyncClient) -> None:
    channel = server.channel_id  # type: ignore[attr-defined]
    session = await new_session(client, channel)
    async with EventStream(client, channel, session) as stream:
        assert stream.content_type.startswith("text/event-stream")
        r = await post_message(client, channel, session, question(0), "c-1")
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["duplicate"] is False
        assert isinstance(accepted["id"], int) and accepted["conversation_id"]
        (event,) = await stream.wait_for(1)
    assert event["event"] == "message"
    assert set(event["data"]) == {"id", "text", "created_at"}
    assert event["data"]["text"] == answer(0)
    assert str(event["data"]["id"]) == event["id"]
    assert datetime.fromisoformat(event["data"]["created_at"]).year >= 2024
    conv = await conversation(client, accepted["conversation_id"])
    assert texts(conv, "in") == [question(0)]
    assert texts(conv, "out") == [answer(0)]
    assert [m["status"] for m in conv["messages"] if m["direction"] == "out"] == ["sent"]
    assert conv["needs_human"] is False


async def test_repeated_client_message_id_is_stored_once_and_answered_once(
    server: Server, client: httpx.AsyncClient
) -> None:
    channel = server.channel_id  # type: ignore[attr-defined]
    session = await new_session(client, channel)
    async with EventStream(client, channel, session) as stream:
        first = await post_message(client, channel, session, question(1), "same-id")
        assert first.status_code == 202, first.text
        again = await post_message(client, channel, session, question(1), "same-id")
        assert again.status_code == 202, again.text
        assert again.json() == {**first.json(), "duplicate": True}
        # Twenty concurrent redeliveries of one new message: one stored, the rest duplicates of it.
        burst = await asyncio.gather(
            *[post_message(client, channel, session, question(2), "burst-id") for _ in range(20)]
        )
        assert {r.status_code for r in burst} == {202}
        assert len({r.json()["id"] for r in burst}) == 1
        assert sum(not r.json()["duplicate"] for r in burst) == 1
        # A marker message after them: once its reply is on the stream, any duplicate reply would be too.
        marker = await post_message(client, channel, session, question(3), "marker")
        assert marker.status_code == 202
        await stream.wait_for(3)
        await asyncio.sleep(1.0)  # room for a wrong extra reply to show up
        assert stream.texts() == [answer(1), answer(2), answer(3)]
    conv = await conversation(client, first.json()["conversation_id"])
    assert texts(conv, "in") == [question(1), question(2), question(3)]
    assert texts(conv, "out") == [answer(1), answer(2), answer(3)]


async def test_reconnect_with_last_event_id_gets_only_later_replies(
    server: Server, client: httpx.AsyncClient
) -> None:
    channel = server.channel_id  # type: ignore[attr-defined]
    session = await new_session(client, channel)
    async with EventStream(client, channel, session) as stream:
        r = await post_message(client, channel, session, question(4), "r-1")
        conversation_id = r.json()["conversation_id"]
        await stream.wait_for(1)
        await post_message(client, channel, session, question(5), "r-2")
        first, second = await stream.wait_for(2)
    assert [first["data"]["text"], second["data"]["text"]] == [answer(4), answer(5)]

    # Disconnected: two more messages are answered meanwhile.
    for i, client_id in ((6, "r-3"), (7, "r-4")):
        assert (await post_message(client, channel, session, question(i), client_id)).status_code == 202
    for _ in range(100):
        if len(texts(await conversation(client, conversation_id), "out")) == 4:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the replies sent while disconnected never appeared")

    async with EventStream(client, channel, session, timeout=2, last_event_id=second["id"]) as resumed:
        await asyncio.wait_for(resumed.ended.wait(), 10)
    assert resumed.texts() == [answer(6), answer(7)]
    ids = [int(e["id"]) for e in resumed.events]
    assert ids == sorted(ids) and ids[0] > int(second["id"])

    # The query parameter works as well (for clients that cannot set headers) ...
    params = {"last_event_id": first["id"]}
    async with EventStream(client, channel, session, timeout=2, params=params) as by_query:
        await asyncio.wait_for(by_query.ended.wait(), 10)
    assert by_query.texts() == [answer(5), answer(6), answer(7)]

    # ... and a fresh connection without any id replays the whole conversation once.
    async with EventStream(client, channel, session, timeout=2) as fresh:
        await asyncio.wait_for(fresh.ended.wait(), 10)
    assert fresh.texts() == [answer(4), answer(5), answer(6), answer(7)]
    assert [e["id"] for e in fresh.events[:2]] == [first["id"], second["id"]]


async def test_bad_session_token_is_401(server: Server, client: httpx.AsyncClient) -> None:
    channel, other = server.channel_id, server.other_channel_id  # type: ignore[attr-defined]
    session = await new_session(client, channel)
    visitor, _, mac = session.partition(".")
    forged = f"{visitor}.{'A' * len(mac)}"
    for bad in ("nonsense", forged, f"v_0000000000.{mac}", ""):
        r = await post_message(client, channel, bad, question(0), None)
        assert_json_error(r, 401, "unauthorized")
        r = await client.get(f"/webchat/{channel}/stream", params={"session": bad, "timeout": 1})
        assert_json_error(r, 401, "unauthorized")
    # A session of one channel is worthless on another.
    r = await post_message(client, other, session, question(0), None)
    assert_json_error(r, 401, "unauthorized")
    # Nothing was stored for any of them.
    r = await client.get("/api/v1/conversations", params={"channel_id": other})
    assert r.json()["total"] == 0


async def test_unknown_channel_is_404(client: httpx.AsyncClient, server: Server) -> None:
    session = await new_session(client, server.channel_id)  # type: ignore[attr-defined]
    assert_json_error(await client.post("/webchat/no-such-channel/sessions"), 404, "not_found")
    r = await post_message(client, "no-such-channel", session, question(0), None)
    assert_json_error(r, 404, "not_found")
    r = await client.get("/webchat/no-such-channel/stream", params={"session": session, "timeout": 1})
    assert_json_error(r, 404, "not_found")
    assert_json_error(await client.get("/webchat/no-such-channel"), 404, "not_found")
    # The page of a real channel is there.
    page = await client.get(f"/webchat/{server.channel_id}")  # type: ignore[attr-defined]
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


async def test_oversized_body_is_413_and_stores_nothing(server: Server, client: httpx.AsyncClient) -> None:
    channel = server.channel_id  # type: ignore[attr-defined]
    session = await new_session(client, channel)
    big = json.dumps({"session": session, "text": "x" * (1024 * 1024 + 10)}).encode()
    r = await client.post(
        f"/webchat/{channel}/messages", content=big, headers={"Content-Type": "application/json"}
    )
    assert_json_error(r, 413, "payload_too_large")
    # Under the body limit but over the text limit: a validation error, not a crash.
    r = await post_message(client, channel, session, "y" * 5000, None)
    assert_json_error(r, 422, "invalid_request")
    # The session is fine and nothing was stored: its first real message starts the conversation.
    ok = await post_message(client, channel, session, question(0), "after-413")
    assert ok.status_code == 202
    assert texts(await conversation(client, ok.json()["conversation_id"]), "in") == [question(0)]


async def test_oversized_chunked_body_is_413(server: Server, client: httpx.AsyncClient) -> None:
    """The same limit without a Content-Length header (chunked upload): counted as it is read."""
    channel = server.channel_id  # type: ignore[attr-defined]
    session = await new_session(client, channel)
    big = json.dumps({"session": session, "text": "x" * (1024 * 1024 + 10)}).encode()

    async def chunks():  # no Content-Length: the limit must hold on the bytes actually read
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    r = await client.post(
        f"/webchat/{channel}/messages", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert_json_error(r, 413, "payload_too_large")
    ok = await post_message(client, channel, session, question(0), "after-chunked-413")
    assert ok.status_code == 202
    assert texts(await conversation(client, ok.json()["conversation_id"]), "in") == [question(0)]


async def test_malformed_requests_are_422_json_never_a_stack_trace(
    server: Server, client: httpx.AsyncClient
) -> None:
    channel = server.channel_id  # type: ignore[attr-defined]
    session = await new_session(client, channel)
    url = f"/webchat/{channel}/messages"
    headers = {"Content-Type": "application/json"}
    bodies = [
        b"{not json",
        b'{"session": "x", "text": "unterminated',
        b"[1, 2, 3]",
        b'"just a string"',
        json.dumps({"session": session}).encode(),  # no text
        json.dumps({"session": session, "text": ""}).encode(),  # empty text
        json.dumps({"session": session, "text": 12}).encode(),  # not a string
        json.dumps({"text": "hello"}).encode(),  # no session
        b"\xff\xfe\x00garbage",
    ]
    for body in bodies:
        r = await client.post(url, content=body, headers=headers)
        error = assert_json_error(r, 422, "invalid_request")
        assert error["details"], (body, error)
    missing_text = await client.post(url, json={"session": session})
    assert any(d["field"] == "text" for d in missing_text.json()["error"]["details"])
    # Bad stream parameters too.
    r = await client.get(f"/webchat/{channel}/stream", params={"session": session, "timeout": "soon"})
    assert_json_error(r, 422, "invalid_request")
    assert "Traceback" not in server.log_text()
    assert "unhandled error" not in server.log_text()


async def test_rate_limit_is_429_with_retry_after(start_server) -> None:  # type: ignore[no-untyped-def]
    limited = start_server(name="limited", FRONTDESK_WEBCHAT_RATE_LIMIT="5/minute")
    async with admin_client(limited) as client:
        channel = await seed_webchat(client)
        session = await new_session(client, channel)
        accepted = [await post_message(client, channel, session, question(i), f"rl-{i}") for i in range(5)]
        assert [r.status_code for r in accepted] == [202] * 5
        r = await post_message(client, channel, session, question(5), "rl-5")
        error = assert_json_error(r, 429, "rate_limited")
        assert "5/minute" in error["message"]
        retry_after = int(r.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        # The limit is per session: another visitor on the same channel is not affected.
        other = await new_session(client, channel)
        assert (await post_message(client, channel, other, question(0), "x")).status_code == 202
        # The refused message was not stored; the five accepted are answered.
        conversation_id = accepted[0].json()["conversation_id"]
        for _ in range(100):
            conv = await conversation(client, conversation_id)
            if len(texts(conv, "out")) == 5:
                break
            await asyncio.sleep(0.1)
        assert texts(conv, "in") == [question(i) for i in range(5)]
        assert texts(conv, "out") == [answer(i) for i in range(5)]
