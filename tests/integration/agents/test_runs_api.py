"""Agent runs: stored for every agent kind, served per conversation (tenant-scoped), logged without PII."""

from __future__ import annotations

import re
from typing import Any

import pytest

from frontdesk.agents import runs
from frontdesk.runtime import Runtime
from frontdesk.security.redact import pii_hash
from frontdesk.security.tokens import create_token
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import setup_webchat
from tests.integration.agents.llm_helpers import fake_llm, replies, say, settings, setup_llm

__all__ = ["fake_llm", "settings"]  # fixtures
PHONE = "+14155550123"
BSUID = "US.13491208655302741918"  # a WhatsApp customer known by their business-scoped user id


async def _token(rt, tenant_id: str | None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    async with rt.db.write() as conn:
        _, token = await create_token(conn, tenant_id, "test")
    return {"Authorization": f"Bearer {token}"}


async def test_runs_of_a_conversation_newest_last(runtime, client, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url)
    fake_llm.push(
        fake_llm.answer("First answer", 0.9),
        fake_llm.tool_call("search_knowledge", query="price"),
        fake_llm.answer("Packages start at 5,000 USD.", 0.85),
    )
    got = await say(runtime, ids["channel_id"], "hello")
    await replies(runtime, got.conversation_id, 1)
    await say(runtime, ids["channel_id"], "how much is a package?")
    await replies(runtime, got.conversation_id, 2)
    r = await client.get(f"/api/v1/conversations/{got.conversation_id}/runs")
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 2
    first, second = items
    assert first["started_at"] < second["started_at"]
    assert first["confidence"] == 0.9 and second["confidence"] == 0.85
    assert second["turn_id"].startswith(got.conversation_id + ":")
    assert [s["type"] for s in second["steps"]] == ["prompt", "model_call", "tool_call", "model_call"]
    assert {
        "run_id",
        "tenant_id",
        "conversation_id",
        "agent_id",
        "agent_kind",
        "model",
        "status",
        "confidence",
        "handoff",
        "handoff_reason",
        "error",
        "latency_ms",
        "model_latency_ms",
        "tokens_in",
        "tokens_out",
        "steps",
        "started_at",
    } <= set(second)
    assert (await client.get(f"/api/v1/conversations/{got.conversation_id}/runs?limit=1")).json()[
        "items"
    ] == [second]


async def test_faq_runs_are_recorded(runtime, client) -> None:
    ids = await setup_webchat(runtime)
    channel = await runtime.cache.channel(ids["channel_id"])
    from frontdesk.model.messages import InboundMessage

    got = await runtime.ingest.message(channel, InboundMessage("f1", "v", "what are your opening hours?"))
    await replies(runtime, got.conversation_id)
    [run] = (await client.get(f"/api/v1/conversations/{got.conversation_id}/runs")).json()["items"]
    assert run["agent_kind"] == "faq" and run["status"] == "ok" and run["model"] is None
    assert run["steps"][0]["type"] == "faq_match" and run["steps"][0]["confidence"] == run["confidence"]


async def test_runs_are_tenant_scoped(runtime, client, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, tenant_id="acme", prefix="a")
    await setup_webchat(runtime, tenant_id="other", prefix="o")
    fake_llm.push(fake_llm.answer("hi", 0.9))
    got = await say(runtime, ids["channel_id"], "hello")
    await replies(runtime, got.conversation_id)
    url = f"/api/v1/conversations/{got.conversation_id}/runs"
    own = await client.get(url, headers=await _token(runtime, "acme"))
    assert own.status_code == 200 and len(own.json()["items"]) == 1
    other = await client.get(url, headers=await _token(runtime, "other"))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    assert (await client.get("/api/v1/conversations/conv_missing/runs")).status_code == 404


@pytest.mark.parametrize(("log_pii", "customer"), [(False, PHONE), (True, PHONE), (False, BSUID)])
async def test_trace_log_lines(
    database_url: str, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, log_pii: bool, customer: str
) -> None:
    lines: list[str] = []

    class Collect:
        def info(self, event: str, **_: Any) -> None:
            lines.append(event)

    monkeypatch.setattr(runs, "log", Collect())
    rt = Runtime(make_settings(database_url, http_actions_allow="127.0.0.1", log_pii=log_pii))
    await rt.start()
    try:
        ids = await setup_llm(rt, fake_llm.base_url)
        fake_llm.push(
            fake_llm.tool_call("search_knowledge", query=f"call me at {customer}"),
            fake_llm.answer("Sure.", 0.9),
        )
        got = await say(rt, ids["channel_id"], "my secret wedding date", sender=customer)
        await replies(rt, got.conversation_id)
    finally:
        await rt.stop()
    started = next(line for line in lines if line.startswith("[TRACE] Run started: run_id=run_"))
    assert re.match(rf"\[TRACE\] Run started: run_id=run_\w+ agent={ids['agent_id']} \| user=\S+ \|", started)
    assert lines[-1].startswith("[TRACE] Run finished: run_id=") and "success=True" in lines[-1]
    tool = next(line for line in lines if line.startswith("[TRACE] Tool call: search_knowledge"))
    assert any(line.startswith("[TRACE] LLM call: iteration=2") for line in lines)
    text = "\n".join(lines)
    if log_pii:
        assert f"user={customer}" in started and "my secret wedding date" in started
    else:
        assert f"user={pii_hash(customer, rt.secrets.derive('pii'))}" in started
        assert customer not in text and customer[-10:] not in text and "secret wedding" not in text
        assert ("<phone:" if customer == PHONE else "<bsuid:") in tool
