"""When the llm agent fails, the customer still gets the fallback, a person is asked, the trace says why."""

from __future__ import annotations

import asyncio
import socket

import pytest

from frontdesk.agents import llm_tools
from frontdesk.agents.tools import BUILTIN, Tool, ToolError
from frontdesk.runtime import Runtime
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.agents.llm_helpers import (
    conversation,
    fake_llm,
    replies,
    runs_of,
    say,
    settings,
    setup_llm,
)

__all__ = ["fake_llm", "settings"]  # fixtures
FALLBACK = "Sorry, a colleague will get back to you."


async def _fails(rt, conversation_id: str, error_part: str) -> dict:  # type: ignore[no-untyped-def]
    """The customer got the fallback, the conversation is flagged, the run says what failed."""
    rows = await replies(rt, conversation_id)
    assert [r.text for r in rows] == [FALLBACK]
    conv = await conversation(rt, conversation_id)
    assert conv.needs_human is True
    assert conv.needs_human_reason.startswith("the LLM agent failed: ")
    assert error_part in conv.needs_human_reason
    [run] = await runs_of(rt, conversation_id)
    assert run["status"] == "error" and error_part in run["error"]
    assert run["confidence"] == 0.0 and run["handoff"] is True
    return run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("failure", "error_part"),
    [
        ("500", "HTTP 500: fake: internal error"),
        ("garbage", "Failed to decode response as JSON"),
        ("timeout", "the model"),
    ],
)
async def test_model_endpoint_failures(runtime, fake_llm: FakeOpenAI, failure: str, error_part: str) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"timeout_seconds": 0.5})
    fake_llm.hang_seconds = 3
    fake_llm.fail(failure)
    got = await say(runtime, ids["channel_id"], "hello?")
    run = await _fails(runtime, got.conversation_id, error_part)
    [call] = [s for s in run["steps"] if s["type"] == "model_call"]
    assert call["error"]


async def test_model_endpoint_down(runtime) -> None:
    ids = await setup_llm(runtime, f"http://127.0.0.1:{_closed_port()}/v1")
    got = await say(runtime, ids["channel_id"], "hello?")
    await _fails(runtime, got.conversation_id, "the model endpoint failed")


async def test_tool_loop_that_does_not_converge_is_capped(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"max_iterations": 3})
    fake_llm.handler = lambda body: fake_llm.tool_call("search_knowledge", query="hours again")
    got = await say(runtime, ids["channel_id"], "hours?")
    run = await _fails(runtime, got.conversation_id, "did not converge within 3 model calls")
    assert len(fake_llm.requests) == 3
    assert [s["type"] for s in run["steps"]].count("model_call") == 3
    assert [s["type"] for s in run["steps"]].count("tool_call") == 3


def _with_tool(monkeypatch: pytest.MonkeyPatch, tool: Tool) -> None:
    monkeypatch.setattr(llm_tools, "BUILTIN", {**BUILTIN, tool.name: tool})


SCHEMA = {"type": "object", "properties": {"phone": {"type": "string"}}, "required": ["phone"]}


async def test_tool_raising(runtime, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(ctx, args):  # type: ignore[no-untyped-def]
        raise RuntimeError("CRM database unreachable")

    _with_tool(monkeypatch, Tool("crm_lookup", "Look a customer up", SCHEMA, broken))
    ids = await setup_llm(runtime, fake_llm.base_url, config={"tools": ["crm_lookup"]})
    fake_llm.push(fake_llm.tool_call("crm_lookup", phone="+14155550123"))
    got = await say(runtime, ids["channel_id"], "what is my booking?")
    run = await _fails(runtime, got.conversation_id, "tool crm_lookup failed: RuntimeError: CRM database")
    [step] = [s for s in run["steps"] if s["type"] == "tool_call"]
    assert step["error"] == "RuntimeError: CRM database unreachable"
    # Personal data in tool arguments is redacted in the stored trace.
    assert step["arguments"]["phone"].startswith("<redacted:") and "4155550123" not in str(run["steps"])


async def test_tool_timeout(runtime, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow(ctx, args):  # type: ignore[no-untyped-def]
        await asyncio.sleep(5)

    _with_tool(monkeypatch, Tool("crm_lookup", "Look a customer up", SCHEMA, slow))
    ids = await setup_llm(
        runtime, fake_llm.base_url, config={"tools": ["crm_lookup"], "tool_timeout_seconds": 0.2}
    )
    fake_llm.push(fake_llm.tool_call("crm_lookup", phone="+14155550123"))
    got = await say(runtime, ids["channel_id"], "what is my booking?")
    await _fails(runtime, got.conversation_id, "tool crm_lookup failed: timed out after 0.2s")


async def test_tool_refusal_goes_back_to_the_model(
    runtime, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def picky(ctx, args):  # type: ignore[no-untyped-def]
        raise ToolError("phone must be in E.164 form, like +14155550123")

    _with_tool(monkeypatch, Tool("crm_lookup", "Look a customer up", SCHEMA, picky))
    ids = await setup_llm(runtime, fake_llm.base_url, config={"tools": ["crm_lookup"]})
    fake_llm.push(
        fake_llm.tool_call("crm_lookup", phone="555"),
        fake_llm.answer("Could you give me your full number?", 0.8),
    )
    got = await say(runtime, ids["channel_id"], "what is my booking?")
    rows = await replies(runtime, got.conversation_id)
    assert rows[0].text == "Could you give me your full number?"
    tool_messages = [m for m in fake_llm.requests[1]["messages"] if m["role"] == "tool"]
    assert "E.164" in tool_messages[0]["content"]
    assert (await conversation(runtime, got.conversation_id)).needs_human is False
    [run] = await runs_of(runtime, got.conversation_id)
    assert run["status"] == "ok"
    [step] = [s for s in run["steps"] if s["type"] == "tool_call"]
    assert "E.164" in step["error"]


async def test_missing_api_key_variable(
    runtime, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTDESK_TENANT_DEFAULT__MISSING_KEY", raising=False)
    ids = await setup_llm(
        runtime, fake_llm.base_url, config={"api_key_env": "FRONTDESK_TENANT_DEFAULT__MISSING_KEY"}
    )
    got = await say(runtime, ids["channel_id"], "hello")
    await _fails(runtime, got.conversation_id, "FRONTDESK_TENANT_DEFAULT__MISSING_KEY")
    assert fake_llm.requests == []


async def test_api_key_from_environment_is_sent(
    runtime, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_TENANT_DEFAULT__LLM_KEY", "sk-test-123")
    ids = await setup_llm(
        runtime, fake_llm.base_url, config={"api_key_env": "FRONTDESK_TENANT_DEFAULT__LLM_KEY"}
    )
    fake_llm.push(fake_llm.answer("hi", 0.9))
    got = await say(runtime, ids["channel_id"], "hello")
    await replies(runtime, got.conversation_id)
    assert fake_llm.headers[0]["authorization"] == "Bearer sk-test-123"


async def test_endpoint_on_a_private_address_is_refused(database_url: str, fake_llm: FakeOpenAI) -> None:
    rt = Runtime(make_settings(database_url))  # no FRONTDESK_HTTP_ACTIONS_ALLOW
    await rt.start()
    try:
        ids = await setup_llm(rt, fake_llm.base_url)
        got = await say(rt, ids["channel_id"], "hello")
        await _fails(rt, got.conversation_id, "FRONTDESK_HTTP_ACTIONS_ALLOW")
        assert fake_llm.requests == []
    finally:
        await rt.stop()


async def test_any_agent_that_raises_still_answers(runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from frontdesk.agents.faq import FaqAgent
    from frontdesk.model.messages import InboundMessage
    from tests.helpers import setup_webchat

    async def broken(self, turn):  # type: ignore[no-untyped-def]
        raise KeyError("entry_id")

    monkeypatch.setattr(FaqAgent, "reply", broken)
    ids = await setup_webchat(runtime, config={"fallback_text": FALLBACK})
    channel = await runtime.cache.channel(ids["channel_id"])
    got = await runtime.ingest.message(channel, InboundMessage("x1", "v", "opening hours?"))
    rows = await replies(runtime, got.conversation_id)
    assert [r.text for r in rows] == [FALLBACK]
    conv = await conversation(runtime, got.conversation_id)
    assert conv.needs_human_reason == "the agent failed: KeyError: 'entry_id'"
    [run] = await runs_of(runtime, got.conversation_id)
    assert run["agent_kind"] == "faq" and run["status"] == "error" and run["error"] == "KeyError: 'entry_id'"


async def test_a_dns_answer_that_changes_after_the_check_is_caught(
    database_url: str, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name is public when checked, loopback when connected; the connection is refused."""
    from frontdesk.security import ssrf

    real = ssrf.resolve
    answers = {"calls": 0}

    async def rebinding(host: str, port: int):  # type: ignore[no-untyped-def]
        if host != "localhost":
            return await real(host, port)
        answers["calls"] += 1
        return (
            [ssrf.ipaddress.ip_address("93.184.216.34")] if answers["calls"] == 1 else await real(host, port)
        )

    monkeypatch.setattr(ssrf, "resolve", rebinding)
    rt = Runtime(make_settings(database_url))  # no FRONTDESK_HTTP_ACTIONS_ALLOW
    await rt.start()
    try:
        ids = await setup_llm(rt, fake_llm.base_url.replace("127.0.0.1", "localhost"))
        got = await say(rt, ids["channel_id"], "hello")
        await _fails(rt, got.conversation_id, "loopback")
        assert fake_llm.requests == [] and answers["calls"] >= 2
    finally:
        await rt.stop()
