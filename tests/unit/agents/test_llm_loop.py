"""The llm agent's tool loop: corrections sent back to the model, and where it gives up."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo as ModelInfo
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.tools import ToolDefinition

from frontdesk.agents import llm_loop
from frontdesk.agents.llm import OUTPUT
from frontdesk.agents.tools import ToolError
from tests.unit.agents.test_llm import call, final


def _last_request(messages: list[ModelMessage]) -> ModelRequest:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    return request


def _returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for p in _last_request(messages).parts if isinstance(p, ToolReturnPart)]


def scripted(*responses: ModelResponse) -> tuple[FunctionModel, list[list[ModelMessage]]]:
    seen: list[list[ModelMessage]] = []
    queue = list(responses)

    def model(messages: list[ModelMessage], info: ModelInfo) -> ModelResponse:
        seen.append(list(messages))
        return queue.pop(0)

    return FunctionModel(model), seen


async def run(model: FunctionModel, tools: list[llm_loop.LoopTool] | None = None, **kw: Any) -> Any:
    return await llm_loop.run(
        model,
        instructions="Be kind.",
        history=[],
        prompt="hello",
        tools=tools or [],
        output=OUTPUT,
        max_requests=kw.pop("max_requests", 5),
        **kw,
    )


def lookup(calls: list[dict[str, Any]], refuse: bool = False) -> llm_loop.LoopTool:
    async def handler(args: dict[str, Any]) -> Any:
        calls.append(args)
        if refuse:
            raise ToolError("phone must be in E.164 form")
        return {"found": True}

    definition = ToolDefinition(name="lookup", parameters_json_schema={"type": "object", "properties": {}})
    return llm_loop.LoopTool(definition, handler)


async def test_plain_text_is_sent_back_once_then_answered() -> None:
    model, seen = scripted(ModelResponse(parts=[TextPart("Hi!")]), final("Hi!", 0.8))
    answer = await run(model)
    assert (answer.text, answer.confidence) == ("Hi!", 0.8)
    assert "final_answer" in _last_request(seen[1]).parts[0].content
    assert all(m.instructions == "Be kind." for m in seen[1] if isinstance(m, ModelRequest))


async def test_plain_text_twice_gives_up() -> None:
    model, _ = scripted(ModelResponse(parts=[TextPart("Hi!")]), ModelResponse(parts=[TextPart("Hi?")]))
    with pytest.raises(llm_loop.LoopError, match="answered without calling final_answer"):
        await run(model)


async def test_invalid_answer_is_corrected() -> None:
    model, seen = scripted(call("final_answer", confidence=0.5), final("Fixed.", 0.6))
    assert (await run(model)).text == "Fixed."
    [failed] = _returns(seen[1])
    assert failed.outcome == "failed" and "text: Field required" in failed.content


async def test_unknown_tool_and_bad_arguments_cost_retries() -> None:
    model, seen = scripted(call("teleport"), final("ok"))
    assert (await run(model, [lookup([])])).text == "ok"
    assert "Unknown tool 'teleport'. Available tools: lookup." in _returns(seen[1])[0].content
    model, _ = scripted(call("teleport"), call("teleport"))
    with pytest.raises(llm_loop.LoopError, match="called teleport wrongly"):
        await run(model, [lookup([])])


async def test_refusals_cost_no_retry_and_tools_run_in_order() -> None:
    calls: list[dict[str, Any]] = []
    refusing = lookup(calls, refuse=True)
    model, seen = scripted(call("lookup", n=1), call("lookup", n=2), call("lookup", n=3), final("done"))
    assert (await run(model, [refusing])).text == "done"
    assert calls == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert _returns(seen[1])[0].content == "phone must be in E.164 form"


async def test_calls_beside_the_answer_are_not_run() -> None:
    calls: list[dict[str, Any]] = []
    both = ModelResponse(parts=[*call("lookup").parts, *final("bye").parts])
    model, _ = scripted(both)
    assert (await run(model, [lookup(calls)])).text == "bye" and calls == []


async def test_the_loop_is_capped() -> None:
    model, seen = scripted(*(call("lookup") for _ in range(3)))
    with pytest.raises(llm_loop.LoopError, match="did not converge within 3 model calls"):
        await run(model, [lookup([])], max_requests=3)
    assert len(seen) == 3
