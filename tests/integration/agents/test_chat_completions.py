"""The Chat Completions model against the fake OpenAI server: the wire format, retries, failures."""

from __future__ import annotations

import httpx2
import pytest
from pydantic_ai.direct import model_request
from pydantic_ai.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelRequestTimeout,
    UnexpectedModelBehavior,
)
from pydantic_ai.messages import (
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

from frontdesk.agents.chat_completions import ChatCompletionsModel, Endpoint
from frontdesk.agents.llm_model import describe
from tests.fakes.openai_server import FakeOpenAI

LOOKUP = ToolDefinition(name="lookup", parameters_json_schema={"type": "object", "properties": {}})
ANSWER = ToolDefinition(name="final_answer", description="Reply.", kind="output")
PARAMS = ModelRequestParameters(function_tools=[LOOKUP], output_tools=[ANSWER], allow_text_output=False)


@pytest.fixture
def fake() -> FakeOpenAI:
    fake = FakeOpenAI()
    with fake.serve():
        yield fake


async def ask(endpoint: Endpoint, messages: list, *, retries: int = 1, timeout: float = 5.0) -> ModelResponse:
    async with httpx2.AsyncClient() as http:
        model = ChatCompletionsModel(endpoint, "m", http=http, timeout=timeout, max_retries=retries)
        return await model_request(model, messages, model_request_parameters=PARAMS)


def conversation() -> list:
    return [
        ModelRequest(parts=[UserPromptPart("hi")], instructions="old instructions"),
        ModelResponse(parts=[TextPart("Hello!"), ToolCallPart("lookup", {"q": "x"}, "call_1")]),
        ModelRequest(
            parts=[
                ToolReturnPart("lookup", {"found": 1}, "call_1"),
                ToolReturnPart("lookup", "no such thing", "call_2", outcome="failed"),
            ],
            instructions="Be kind.",
        ),
    ]


async def test_request_and_response_on_the_wire(fake: FakeOpenAI) -> None:
    fake.push(fake.answer("Done.", 0.8))
    response = await ask(Endpoint.openai(fake.base_url, "gpt-test", "sk-1"), conversation())
    [body] = fake.requests
    assert fake.headers[0]["authorization"] == "Bearer sk-1" and fake.urls == ["/v1/chat/completions"]
    assert body["model"] == "gpt-test" and body["tool_choice"] == "required"
    assert [t["function"]["name"] for t in body["tools"]] == ["lookup", "final_answer"]
    roles = [(m["role"], m.get("content")) for m in body["messages"]]
    assert roles[:3] == [("system", "Be kind."), ("user", "hi"), ("assistant", "Hello!")]
    call = body["messages"][2]["tool_calls"][0]
    assert call == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q":"x"}'},
    }
    tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_1", "call_2"]
    assert tool_messages[0]["content"] == '{"found":1}' and "no such thing" in tool_messages[1]["content"]
    [part] = response.parts
    assert isinstance(part, ToolCallPart) and part.tool_name == "final_answer"
    assert part.args_as_dict()["text"] == "Done." and part.tool_call_id
    assert response.usage.input_tokens > 0 and response.finish_reason == "tool_call"
    assert response.provider_response_id.startswith("chatcmpl-")


async def test_azure_deployment_url_and_key(fake: FakeOpenAI) -> None:
    fake.push(fake.text("hello"))
    endpoint = Endpoint.azure(fake.base_url.removesuffix("/v1"), "prod", "2024-10-21", "az-key")
    response = await ask(endpoint, conversation())
    assert fake.urls == ["/openai/deployments/prod/chat/completions?api-version=2024-10-21"]
    assert fake.headers[0]["api-key"] == "az-key" and "model" not in fake.requests[0]
    assert [p.content for p in response.parts] == ["hello"]


@pytest.mark.parametrize("failure", ["429", "500"])
async def test_transient_failures_are_retried(fake: FakeOpenAI, failure: str) -> None:
    fake.fail(failure)
    fake.push(fake.text("after a retry"))
    response = await ask(Endpoint.openai(fake.base_url, "m", "k"), conversation())
    assert len(fake.requests) == 2 and response.parts[0].content == "after a retry"


async def test_failures_in_words(fake: FakeOpenAI) -> None:
    endpoint = Endpoint.openai(fake.base_url, "m", "k")
    fake.fail("400")
    with pytest.raises(ModelHTTPError) as caught:
        await ask(endpoint, conversation())
    assert len(fake.requests) == 1  # a rejected request is not retried
    assert describe(caught.value) == "HTTP 400: fake: invalid request"
    fake.fail("500", times=2)
    with pytest.raises(ModelHTTPError, match="500"):
        await ask(endpoint, conversation(), retries=1)
    fake.fail("garbage")
    with pytest.raises(UnexpectedModelBehavior, match="Failed to decode response as JSON"):
        await ask(endpoint, conversation())
    fake.hang_seconds = 2
    fake.fail("timeout")
    with pytest.raises(ModelRequestTimeout):
        await ask(endpoint, conversation(), retries=0, timeout=0.3)


async def test_endpoint_down() -> None:
    with pytest.raises(ModelConnectionError, match="cannot reach the model endpoint"):
        await ask(Endpoint.openai("http://127.0.0.1:9/v1", "m", "k"), conversation(), retries=0)
