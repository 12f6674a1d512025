"""The remote agent against real HTTP servers on 127.0.0.1: signed turns, retries, fallbacks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from frontdesk.agents.remote import RemoteAgent
from frontdesk.model.messages import HistoryMessage, Turn
from frontdesk.model.routing import AgentInfo
from frontdesk.security.tokens import SYSTEM
from frontdesk.store.db import utcnow
from frontdesk.store.tables import agents, contacts
from tests.conftest import make_settings
from tests.fakes.server import run_app

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FALLBACK = "Sorry, a colleague will answer you shortly."
RECEIVER = Path(__file__).parents[3] / "examples" / "remote_agent_receiver.py"


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, http_actions_allow="127.0.0.1", run_workers=False)


class Endpoint:
    """A scripted remote agent: answers from ``script`` in order (the last one repeats)."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: Request) -> Response:
        self.calls.append((dict(request.headers), await request.body()))
        step = self.script[min(len(self.calls), len(self.script)) - 1]
        if isinstance(step, float):
            await asyncio.sleep(step)
            return JSONResponse({"replies": ["too late"]})
        if isinstance(step, int):
            return PlainTextResponse("error", status_code=step)
        if isinstance(step, str):
            return PlainTextResponse(step)
        return JSONResponse(step)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/turn", self.handle, methods=["POST"])])


def agent(rt: Any, url: str, **config: Any) -> RemoteAgent:
    cfg = {"url": url, "secret": SECRET, "fallback_text": FALLBACK, **config}
    return RemoteAgent(rt, AgentInfo("asst_remote", "default", "Remote", "remote", "active", cfg))


def turn(text: str = "Do you do beach weddings?", contact_id: str = "ct_1") -> Turn:
    now = utcnow()
    return Turn(
        tenant_id="default",
        agent_id="asst_remote",
        channel_id="web",
        channel_type="webchat",
        conversation_id="conv_1",
        contact_id=contact_id,
        new_messages=[HistoryMessage(12, "in", text, "text", now)],
        history=[
            HistoryMessage(10, "in", "Hi", "text", now),
            HistoryMessage(11, "out", "Hello!", "text", now),
        ],
        tenant={"tenant_id": "default", "name": "Default", "timezone": "UTC", "settings": {"x": 1}},
    )


def valid_signature(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(headers["webhook-signature"], expected)


async def test_signed_turn_and_replies(runtime) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    async with runtime.db.write() as conn:
        await conn.execute(
            contacts.insert().values(
                contact_id="ct_1",
                tenant_id="default",
                display_name="Ana",
                phone_e164="+14155550123",
                created_at=now,
                updated_at=now,
            )
        )
    endpoint = Endpoint({"replies": ["We do!", {"text": "Which beach?"}], "confidence": 0.8})
    with run_app(endpoint.app()) as base:
        reply = await agent(runtime, f"{base}/turn").reply(turn())
    assert reply.texts == ["We do!", "Which beach?"] and reply.confidence == 0.8 and not reply.handoff
    [step] = reply.trace
    assert step["type"] == "remote_call" and step["url_host"] == "127.0.0.1"
    assert step["status"] == 200 and step["attempts"] == 1 and "error" not in step
    assert isinstance(step["latency_ms"], int)
    headers, body = endpoint.calls[0]
    assert valid_signature(headers, body)
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    sent = json.loads(body)
    assert sent["contact"] == {"id": "ct_1", "name": "Ana", "phone": "+14155550123", "address": None}
    assert sent["tenant"] == {"id": "default", "name": "Default", "timezone": "UTC"}  # not its settings
    assert sent["conversation_id"] == "conv_1" and sent["channel"] == {"id": "web", "type": "webchat"}
    assert [m["text"] for m in sent["messages"]] == ["Do you do beach weddings?"]
    assert [(m["direction"], m["text"]) for m in sent["history"]] == [("in", "Hi"), ("out", "Hello!")]


async def test_the_example_receiver_verifies_and_answers(runtime) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("remote_agent_receiver", RECEIVER)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with run_app(example.create_app(SECRET)) as base:
        good = await agent(runtime, f"{base}/frontdesk/turn").reply(turn("hello"))
        handoff = await agent(runtime, f"{base}/frontdesk/turn").reply(turn("a human please"))
        other_secret = "whsec_" + base64.b64encode(b"another key of 24 bytes!").decode()
        refused = await agent(runtime, f"{base}/frontdesk/turn", secret=other_secret).reply(turn())
    assert good.texts == ["Hi there! You wrote: hello"] and good.confidence == 0.9 and not good.handoff
    assert handoff.handoff and handoff.reason == "remote: asked"
    assert refused.texts == [FALLBACK] and refused.handoff and refused.trace[0]["status"] == 401
    assert refused.trace[0]["attempts"] == 1  # a 4xx is not retried


async def test_secret_stored_encrypted_signs_the_calls(runtime) -> None:  # type: ignore[no-untyped-def]
    await runtime.config.create(
        "agent",
        {
            "agent_id": "asst_remote",
            "agent_name": "Remote",
            "kind": "remote",
            "config": {"url": "https://agents.example.com/turn", "secret": SECRET},
        },
        principal=SYSTEM,
    )
    async with runtime.db.read() as conn:
        stored = (
            await conn.execute(sa.select(agents.c.config).where(agents.c.agent_id == "asst_remote"))
        ).scalar()
    assert SECRET not in json.dumps(stored)
    endpoint = Endpoint({"replies": ["ok"]})
    with run_app(endpoint.app()) as base:
        info = AgentInfo(
            "asst_remote", "default", "Remote", "remote", "active", {**stored, "url": f"{base}/turn"}
        )
        reply = await RemoteAgent(runtime, info).reply(turn())
    assert reply.texts == ["ok"]
    headers, body = endpoint.calls[0]
    assert valid_signature(headers, body)


async def test_timeout_gives_the_fallback_and_a_person(runtime) -> None:  # type: ignore[no-untyped-def]
    endpoint = Endpoint(1.0)
    with run_app(endpoint.app()) as base:
        started = time.monotonic()
        reply = await agent(runtime, f"{base}/turn", timeout_s=0.3, retries=0).reply(turn())
        elapsed = time.monotonic() - started
    assert reply.texts == [FALLBACK] and reply.handoff and reply.confidence == 0.0
    assert reply.reason is not None and reply.reason.startswith("remote agent failed: no complete answer")
    assert reply.trace[0]["status"] is None and "0.3s" in reply.trace[0]["error"]
    assert elapsed < 1.5


async def test_garbage_gives_the_fallback_without_retrying(runtime) -> None:  # type: ignore[no-untyped-def]
    endpoint = Endpoint("<html>not json</html>")
    with run_app(endpoint.app()) as base:
        reply = await agent(runtime, f"{base}/turn").reply(turn())
    assert reply.texts == [FALLBACK] and reply.handoff
    assert reply.trace[0]["status"] == 200 and reply.trace[0]["error"] == "the answer is not JSON"
    assert reply.trace[0]["attempts"] == 1 and len(endpoint.calls) == 1


async def test_wrong_shape_gives_the_fallback(runtime) -> None:  # type: ignore[no-untyped-def]
    endpoint = Endpoint({"message": "hello"})
    with run_app(endpoint.app()) as base:
        reply = await agent(runtime, f"{base}/turn").reply(turn())
    assert reply.texts == [FALLBACK] and reply.handoff and '"replies" list' in (reply.reason or "")


async def test_server_errors_are_retried_with_the_same_id(runtime) -> None:  # type: ignore[no-untyped-def]
    endpoint = Endpoint(503, 500, {"replies": ["third time lucky"]})
    with run_app(endpoint.app()) as base:
        reply = await agent(runtime, f"{base}/turn", retries=2).reply(turn())
    assert reply.texts == ["third time lucky"] and not reply.handoff
    assert reply.trace[0]["attempts"] == 3 and reply.trace[0]["status"] == 200
    ids = {headers["webhook-id"] for headers, _ in endpoint.calls}
    assert len(ids) == 1 and all(valid_signature(h, b) for h, b in endpoint.calls)


async def test_retries_run_out(runtime) -> None:  # type: ignore[no-untyped-def]
    endpoint = Endpoint(502)
    with run_app(endpoint.app()) as base:
        reply = await agent(runtime, f"{base}/turn", retries=1).reply(turn())
    assert reply.texts == [FALLBACK] and reply.handoff
    assert reply.trace[0]["attempts"] == 2 and reply.trace[0]["error"] == "HTTP 502"
    assert len(endpoint.calls) == 2


async def test_client_errors_are_not_retried(runtime) -> None:  # type: ignore[no-untyped-def]
    endpoint = Endpoint(404, {"replies": ["never"]})
    with run_app(endpoint.app()) as base:
        reply = await agent(runtime, f"{base}/turn", retries=3).reply(turn())
    assert reply.handoff and reply.trace[0]["attempts"] == 1 and len(endpoint.calls) == 1


async def test_private_addresses_need_the_operators_allow_list(database_url: str) -> None:
    from frontdesk.runtime import Runtime

    rt = Runtime(make_settings(database_url, run_workers=False))
    await rt.start()
    endpoint = Endpoint({"replies": ["should not be reached"]})
    try:
        with run_app(endpoint.app()) as base:
            reply = await agent(rt, f"{base}/turn").reply(turn())
    finally:
        await rt.stop()
    assert reply.texts == [FALLBACK] and reply.handoff
    assert "loopback" in reply.trace[0]["error"] and endpoint.calls == []


async def test_no_url_hands_over_to_a_person(runtime) -> None:  # type: ignore[no-untyped-def]
    info = AgentInfo("asst_foundry", "default", "Foundry", "remote", "active", {"fallback_text": FALLBACK})
    reply = await RemoteAgent(runtime, info).reply(turn())
    assert reply.texts == [FALLBACK] and reply.handoff and "no config.url" in (reply.reason or "")


async def test_a_secret_that_no_longer_decrypts_hands_over(runtime) -> None:  # type: ignore[no-untyped-def]
    info = AgentInfo(
        "asst_remote",
        "default",
        "Remote",
        "remote",
        "active",
        {
            "url": "https://agents.example.com/turn",
            "secret": "fdsecret:v1:not-a-token",
            "fallback_text": FALLBACK,
        },
    )
    reply = await RemoteAgent(runtime, info).reply(turn())
    assert reply.texts == [FALLBACK] and reply.handoff and "cannot be decrypted" in (reply.reason or "")
