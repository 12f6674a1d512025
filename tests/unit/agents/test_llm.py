"""The llm agent with pydantic-ai's FunctionModel/TestModel: no server, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo as ModelInfo
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.test import TestModel

from frontdesk.agents import history
from frontdesk.agents.knowledge import KnowledgeIndex
from frontdesk.agents.llm import FINAL_ANSWER, LlmAgent
from frontdesk.model.llm_config import check_llm_config
from frontdesk.model.messages import HistoryMessage, Turn
from frontdesk.model.routing import AgentInfo, TenantInfo
from frontdesk.security.secrets import SecretBox

TENANT = TenantInfo("t1", "Luna Bistro", "Europe/Rome", {"description": "an Italian bistro"}, {}, 1)
KNOWLEDGE = KnowledgeIndex(
    [
        {
            "id": "kb1",
            "question": "What are your opening hours?",
            "answer": "12:00 to 23:00.",
            "tags": ["hours"],
        }
    ]
)


class StubAgents:
    async def knowledge_index(self, db: Any, tenant_id: str, revision: int) -> KnowledgeIndex:
        assert (tenant_id, revision) == ("t1", 1)
        return KNOWLEDGE


class StubCache:
    async def tenant(self, tenant_id: str) -> TenantInfo:
        return TENANT  # no HTTP actions in its settings


RT = SimpleNamespace(
    agents=StubAgents(), cache=StubCache(), db=None, secrets=SecretBox([SecretBox.new_key()])
)


def agent(model: Any, **config: Any) -> LlmAgent:
    info = AgentInfo("asst_1", "t1", "Ava", "llm", "active", {"model": "m", **config})
    return LlmAgent(RT, info, TENANT, model=model)


def turn(text: str = "hello", history_: list[HistoryMessage] | None = None, **extra: Any) -> Turn:
    return Turn(
        tenant_id="t1",
        agent_id="asst_1",
        channel_id="c1",
        channel_type="whatsapp",
        conversation_id="conv1",
        contact_id="ct1",
        new_messages=[HistoryMessage(100, "in", text, "text", None)],
        history=history_ or [],
        **extra,
    )


def final(text: str, confidence: Any = 0.9, **more: Any) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(FINAL_ANSWER, {"text": text, "confidence": confidence, **more})])


def call(name: str, **args: Any) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(name, args)])


def tool_returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]


async def test_structured_reply_with_prompt_and_settings() -> None:
    seen: list[ModelInfo] = []

    def model(messages: list[ModelMessage], info: ModelInfo) -> ModelResponse:
        seen.append(info)
        return final("Buongiorno!", 0.8)

    reply = await agent(FunctionModel(model), temperature=0.2, max_tokens=300).reply(turn())
    assert reply.texts == ["Buongiorno!"] and reply.confidence == 0.8
    assert reply.handoff is False and reply.error is None
    assert [s["type"] for s in reply.trace] == ["prompt", "model_call"]
    assert reply.trace[1]["tool_calls"] == [FINAL_ANSWER] and reply.trace[1]["latency_ms"] >= 0
    [info] = seen
    assert info.instructions is not None and "Luna Bistro: an Italian bistro" in info.instructions
    assert info.model_settings is not None
    assert (info.model_settings["temperature"], info.model_settings["max_tokens"]) == (0.2, 300)
    assert [t.name for t in info.output_tools] == [FINAL_ANSWER] and info.allow_text_output is False


@pytest.mark.parametrize(("given", "kept"), [(1.7, 1.0), (-0.2, 0.0), ("0.4", 0.4), ("high", 0.0)])
async def test_confidence_is_clamped(given: Any, kept: float) -> None:
    reply = await agent(FunctionModel(lambda m, i: final("ok", given))).reply(turn())
    assert reply.confidence == kept


async def test_search_knowledge_round_trip() -> None:
    def model(messages: list[ModelMessage], info: ModelInfo) -> ModelResponse:
        returned = tool_returns(messages)
        if not returned:
            return call("search_knowledge", query="opening hours")
        return final("We open at " + returned[0].content["results"][0]["answer"], 0.9)

    reply = await agent(FunctionModel(model), tools=["search_knowledge"]).reply(turn("when do you open?"))
    assert reply.texts == ["We open at 12:00 to 23:00."]
    tool = next(s for s in reply.trace if s["type"] == "tool_call")
    assert tool["name"] == "search_knowledge" and tool["arguments"] == {"query": "opening hours"}
    assert "12:00 to 23:00" in tool["result"]


async def test_handoff_tool_sets_the_effect() -> None:
    def model(messages: list[ModelMessage], info: ModelInfo) -> ModelResponse:
        if not tool_returns(messages):
            return call("handoff_to_human", reason="wants   a manager")
        return final("A colleague will contact you shortly.", 0.9)

    reply = await agent(FunctionModel(model), tools=["handoff_to_human"]).reply(turn("manager please"))
    assert reply.effects == {"handoff": "wants a manager"}
    assert reply.handoff is True and reply.reason == "wants a manager"
    assert reply.texts == ["A colleague will contact you shortly."]


async def test_needs_human_from_the_answer() -> None:
    model = FunctionModel(
        lambda m, i: final("Let me check.", 0.7, needs_human=True, reason="allergy question")
    )
    reply = await agent(model).reply(turn())
    assert reply.handoff is True and reply.reason == "allergy question"


async def test_empty_answer_falls_back() -> None:
    reply = await agent(FunctionModel(lambda m, i: final("  ", 0.9)), fallback_text="Un momento!").reply(
        turn()
    )
    assert reply.texts == ["Un momento!"] and reply.handoff is True
    assert reply.error == "the model's reply was empty" and reply.confidence == 0.0


async def test_tool_loop_is_capped() -> None:
    calls: list[int] = []

    def model(messages: list[ModelMessage], info: ModelInfo) -> ModelResponse:
        calls.append(1)
        return call("search_knowledge", query="again")

    reply = await agent(FunctionModel(model), tools=["search_knowledge"], max_iterations=2).reply(turn())
    assert len(calls) == 2
    assert reply.error == "the tool loop did not converge within 2 model calls"
    assert reply.reason == "the LLM agent failed: the tool loop did not converge within 2 model calls"
    assert [s["type"] for s in reply.trace].count("model_call") == 2


async def test_model_exception_falls_back_with_the_error() -> None:
    def model(messages: list[ModelMessage], info: ModelInfo) -> ModelResponse:
        raise RuntimeError("connection reset by peer")

    reply = await agent(FunctionModel(model)).reply(turn())
    assert reply.error == "RuntimeError: connection reset by peer"
    assert reply.trace[-1]["type"] == "model_call" and reply.trace[-1]["error"] == reply.error


async def test_unknown_tools_are_skipped_and_reported() -> None:
    model = TestModel(call_tools=[], custom_output_args={"text": "hi", "confidence": 0.6})
    reply = await agent(model, tools=["handoff_to_human", "teleport"]).reply(turn())
    assert reply.texts == ["hi"] and reply.confidence == 0.6
    assert [t.name for t in model.last_model_request_parameters.function_tools] == ["handoff_to_human"]
    assert {"type": "warning", "message": "unknown tool(s) skipped: teleport"} in reply.trace


async def test_history_is_sent_as_conversation() -> None:
    seen: list[list[ModelMessage]] = []

    def model(messages: list[ModelMessage], info: ModelInfo) -> ModelResponse:
        seen.append(messages)
        return final("ok")

    past = [HistoryMessage(1, "in", "hi", "text", None), HistoryMessage(2, "out", "Hello!", "text", None)]
    await agent(FunctionModel(model)).reply(turn("table for two?", past))
    kinds = [(type(m).__name__, m.parts[0].content) for m in seen[0] if m.parts]
    assert kinds[:2] == [("ModelRequest", "hi"), ("ModelResponse", "Hello!")]
    assert seen[0][-1].parts[-1].content == "table for two?"


def _msg(i: int, direction: str, text: str, minutes: int) -> HistoryMessage:
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return HistoryMessage(i, direction, text, "text", at)  # type: ignore[arg-type]


def test_history_limit_cross_channel_and_budget() -> None:
    own = [_msg(1, "in", "a" * 10, 0), _msg(2, "out", "b" * 10, 1), _msg(3, "in", "c" * 10, 5)]
    other = [("sms", _msg(9, "in", "booked for friday", 3))]
    t = turn("new", own, cross_channel_history=other)
    items = history.entries(t, 10)
    assert items == [
        ("in", "a" * 10),
        ("out", "b" * 10),
        ("in", "(earlier, the customer on sms) booked for friday"),
        ("in", "c" * 10),
    ]
    assert history.entries(t, 2) == items[-2:]
    # Trimmed oldest first to the character budget; the newest always fit first.
    assert history.trim(items, 60) == items[-2:]
    assert history.trim(items, 5) == []
    assert history.user_prompt(turn("")) == "(an empty message)"


def test_llm_config_validation() -> None:
    assert check_llm_config({"model": "gpt-4o-mini"}).max_iterations == 5
    azure = check_llm_config({"azure": {"endpoint": "https://x.openai.azure.com", "deployment": "gpt4o"}})
    assert azure.model_name == "gpt4o"
    with pytest.raises(ValueError, match=r"needs config\.model"):
        check_llm_config({})
    with pytest.raises(ValueError, match=r"config\.api_key_env: .*name of an environment variable"):
        check_llm_config({"model": "m", "api_key_env": "sk-abc def"})
    with pytest.raises(ValueError, match=r"config\.temperature"):
        check_llm_config({"model": "m", "temperature": 5})
    with pytest.raises(ValueError, match=r"config\.base_url"):
        check_llm_config({"model": "m", "base_url": "ftp://x"})
    assert json.loads(check_llm_config({"model": "m", "tools": [" a ", "a", ""]}).model_dump_json())[
        "tools"
    ] == ["a"]
