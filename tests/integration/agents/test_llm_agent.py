"""The llm agent through the real pipeline (ingest → queue → turn → store) against a fake model
server over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from frontdesk.security.tokens import SYSTEM
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


async def test_reply_is_sent_and_run_recorded(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url)
    fake_llm.push(fake_llm.answer("Hello! How can I help with your wedding?", 0.92))
    got = await say(runtime, ids["channel_id"], "hi there")
    rows = await replies(runtime, got.conversation_id)
    assert [r.text for r in rows] == ["Hello! How can I help with your wedding?"]
    conv = await conversation(runtime, got.conversation_id)
    assert conv.needs_human is False
    request = fake_llm.requests[0]
    assert request["model"] == "fake-model"
    assert request["messages"][-1] == {"role": "user", "content": "hi there"}
    assert "Dream Weddings" in fake_llm.system_prompt()
    assert set(fake_llm.tool_names()) == {"search_knowledge", "handoff_to_human", "final_answer"}
    [run] = await runs_of(runtime, got.conversation_id)
    assert run["agent_id"] == ids["agent_id"] and run["agent_kind"] == "llm"
    assert run["model"] == "fake-model" and run["status"] == "ok" and run["error"] is None
    assert run["confidence"] == 0.92 and run["handoff"] is False
    assert run["tokens_in"] > 0 and run["tokens_out"] > 0
    assert run["latency_ms"] >= run["model_latency_ms"] > 0
    [call] = [s for s in run["steps"] if s["type"] == "model_call"]
    assert call["tool_calls"] == ["final_answer"] and call["tokens_in"] == run["tokens_in"]


async def test_search_knowledge_round_trip(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url)
    fake_llm.push(
        fake_llm.tool_call("search_knowledge", query="opening hours"),
        fake_llm.answer("We are open Monday to Friday, 9 to 5.", 0.9),
    )
    got = await say(runtime, ids["channel_id"], "when are you open?")
    rows = await replies(runtime, got.conversation_id)
    assert rows[0].text == "We are open Monday to Friday, 9 to 5."
    # The tool's result went back to the model in the second request.
    tool_messages = [m for m in fake_llm.requests[1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1
    result = json.loads(tool_messages[0]["content"])
    assert result["results"][0]["answer"] == "We are open Monday to Friday, 9:00 to 17:00."
    [run] = await runs_of(runtime, got.conversation_id)
    assert [s["type"] for s in run["steps"]] == ["prompt", "model_call", "tool_call", "model_call"]
    tool = run["steps"][2]
    assert tool["name"] == "search_knowledge" and tool["arguments"] == {"query": "opening hours"}
    assert "Monday to Friday" in tool["result"] and "error" not in tool


async def test_handoff_tool_flags_the_conversation(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url)
    fake_llm.push(
        fake_llm.tool_call("handoff_to_human", reason="customer wants to negotiate the price"),
        fake_llm.answer("I've asked a colleague to call you back about the price.", 0.95),
    )
    got = await say(runtime, ids["channel_id"], "can I talk to a real person about a discount?")
    rows = await replies(runtime, got.conversation_id)
    assert rows[0].text == "I've asked a colleague to call you back about the price."
    conv = await conversation(runtime, got.conversation_id)
    assert conv.needs_human is True
    assert conv.needs_human_reason == "customer wants to negotiate the price"
    [run] = await runs_of(runtime, got.conversation_id)
    assert run["handoff"] is True and run["handoff_reason"] == conv.needs_human_reason


async def test_handoff_without_reply_text_tells_the_customer(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"handoff_text": "A person will follow up."})
    fake_llm.push(fake_llm.tool_call("handoff_to_human", reason="angry"), fake_llm.answer("", 0.5))
    got = await say(runtime, ids["channel_id"], "this is unacceptable")
    rows = await replies(runtime, got.conversation_id)
    assert [r.text for r in rows] == ["A person will follow up."]
    assert (await conversation(runtime, got.conversation_id)).needs_human is True


async def test_low_confidence_reply_is_sent_and_flagged(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"confidence_threshold": 0.6})
    fake_llm.push(fake_llm.answer("Probably on Saturdays too, I think.", 0.3))
    got = await say(runtime, ids["channel_id"], "are you open on saturday?")
    rows = await replies(runtime, got.conversation_id)
    assert rows[0].text == "Probably on Saturdays too, I think."
    conv = await conversation(runtime, got.conversation_id)
    assert conv.needs_human is True
    assert conv.needs_human_reason == "agent confidence 0.30 is below the threshold 0.60"


async def test_model_asking_for_a_person_flags_the_conversation(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url)
    fake_llm.push(fake_llm.answer("Let me check with the team.", 0.8, needs_human=True, reason="custom menu"))
    got = await say(runtime, ids["channel_id"], "can you do a vegan menu for 300?")
    await replies(runtime, got.conversation_id)
    conv = await conversation(runtime, got.conversation_id)
    assert conv.needs_human_reason == "custom menu"


async def test_history_goes_to_the_model(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"history_messages": 3})
    for i in range(3):
        fake_llm.push(fake_llm.answer(f"answer {i}", 0.9))
        got = await say(runtime, ids["channel_id"], f"question {i}")
        await replies(runtime, got.conversation_id, i + 1)
    sent = [(m["role"], m.get("content")) for m in fake_llm.requests[2]["messages"] if m["role"] != "system"]
    # The last 3 stored messages before the new one, then the new one.
    assert sent == [
        ("assistant", "answer 0"),
        ("user", "question 1"),
        ("assistant", "answer 1"),
        ("user", "question 2"),
    ]


async def test_cross_channel_history(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"cross_channel_history": True})
    await runtime.config.create(
        "channel",
        {
            "channel_id": "l_web2",
            "channel_name": "Widget 2",
            "channel_type": "webchat",
            "provider": "webchat",
        },
        principal=SYSTEM,
    )
    await runtime.config.create(
        "mapping", {"agent_id": ids["agent_id"], "channel_id": "l_web2", "is_primary": True}, principal=SYSTEM
    )
    fake_llm.push(fake_llm.answer("Noted: June 12.", 0.9), fake_llm.answer("Yes, June 12 is free.", 0.9))
    first = await say(runtime, ids["channel_id"], "Our wedding is on June 12", sender="same-visitor")
    await replies(runtime, first.conversation_id)
    second = await say(runtime, "l_web2", "Is that date still free?", sender="same-visitor")
    await replies(runtime, second.conversation_id)
    assert second.conversation_id != first.conversation_id
    sent = [(m["role"], m["content"]) for m in fake_llm.requests[1]["messages"] if m["role"] != "system"]
    assert sent == [
        ("user", "(earlier, the customer on webchat) Our wedding is on June 12"),
        ("assistant", "(earlier, you on webchat) Noted: June 12."),
        ("user", "Is that date still free?"),
    ]


async def test_history_is_trimmed_to_the_budget(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"max_history_chars": 30})
    fake_llm.push(fake_llm.answer("A" * 25, 0.9), fake_llm.answer("ok", 0.9))
    got = await say(runtime, ids["channel_id"], "x" * 20)
    await replies(runtime, got.conversation_id)
    await say(runtime, ids["channel_id"], "and now?")
    await replies(runtime, got.conversation_id, 2)
    sent = [(m["role"], m["content"]) for m in fake_llm.requests[1]["messages"] if m["role"] != "system"]
    # 20 + 25 characters do not fit in 30: the older message goes, the newer one stays.
    assert sent == [("assistant", "A" * 25), ("user", "and now?")]


async def test_azure_openai_deployment(runtime, fake_llm: FakeOpenAI, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FRONTDESK_TENANT_DEFAULT__AZURE_KEY", "azure-key-1")
    endpoint = fake_llm.base_url.removesuffix("/v1")
    azure = {"endpoint": endpoint, "deployment": "gpt4o-prod", "api_version": "2024-10-21"}
    ids = await setup_llm(
        runtime,
        fake_llm.base_url,
        config={"azure": azure, "api_key_env": "FRONTDESK_TENANT_DEFAULT__AZURE_KEY", "base_url": None},
    )
    fake_llm.push(fake_llm.answer("Hello from Azure", 0.9))
    got = await say(runtime, ids["channel_id"], "hi")
    rows = await replies(runtime, got.conversation_id)
    assert rows[0].text == "Hello from Azure"
    assert fake_llm.urls == ["/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"]
    assert fake_llm.headers[0]["api-key"] == "azure-key-1"
    [run] = await runs_of(runtime, got.conversation_id)
    assert run["model"] == "gpt4o-prod"


async def test_tools_get_the_customers_address(runtime, fake_llm: FakeOpenAI, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from frontdesk.agents import llm_tools
    from frontdesk.agents.tools import BUILTIN, Tool

    async def whoami(ctx, args):  # type: ignore[no-untyped-def]
        return {"address": ctx.contact_address, "contact_id": ctx.contact_id, "tz": str(ctx.now.tzinfo)}

    tool = Tool("whoami", "Who is writing", {"type": "object", "properties": {}}, whoami)
    monkeypatch.setattr(llm_tools, "BUILTIN", {**BUILTIN, "whoami": tool})
    ids = await setup_llm(runtime, fake_llm.base_url, config={"tools": ["whoami"]})
    for sender in ("+14155550101", "+14155550102"):
        fake_llm.push(fake_llm.tool_call("whoami"), fake_llm.answer("ok", 0.9))
        got = await say(runtime, ids["channel_id"], "hello", sender=sender)
        await replies(runtime, got.conversation_id)
        result = json.loads(
            [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
        )
        conv = await conversation(runtime, got.conversation_id)
        assert result == {"address": sender, "contact_id": conv.contact_id, "tz": "Europe/Paris"}


async def test_choices_are_offered_as_buttons(runtime, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url)
    answer = fake_llm.answer("Which day suits you?", 0.9)
    answer["tool_calls"][0][1]["buttons"] = [
        "Monday",
        "Tuesday",
        "Tuesday",
        "A much too long label for a button",
        "x",
    ]
    fake_llm.push(answer)
    got = await say(runtime, ids["channel_id"], "I want to book")
    [row] = await replies(runtime, got.conversation_id)
    assert row.text == "Which day suits you?"
    titles = [b["title"] for b in row.payload["buttons"]]
    assert titles == ["Monday", "Tuesday", "A much too long labe"]  # deduplicated, cut, at most 3
    schema = next(t for t in fake_llm.requests[0]["tools"] if t["function"]["name"] == "final_answer")
    assert "buttons" in schema["function"]["parameters"]["properties"]
