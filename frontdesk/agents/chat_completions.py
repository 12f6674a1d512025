"""A pydantic-ai model that speaks the OpenAI Chat Completions wire format over a shared httpx2 client.

Every ``llm`` agent talks to an OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama,
LiteLLM, …) with text and function tools only. The OpenAI SDK under pydantic-ai's own OpenAI model
spent most of a turn's CPU on what such a request does not need: measured under load with
``bench/agents.py``, 3 of a turn's 4.9 ms went to the SDK's request transformation, its response
models and its HTTP stack. This model builds the JSON itself, posts it on the runtime's connection
pool and reads back what Frontdesk uses: text, tool calls, token usage, finish reason.

Failures surface as pydantic-ai's model errors (``ModelHTTPError``, ``ModelConnectionError``,
``ModelRequestTimeout``, ``UnexpectedModelBehavior``), so the agent's fallback reports them in
words. Connection errors, 408/409/429 and 5xx answers are retried ``max_retries`` times with
backoff and jitter (stamina), honouring a short ``Retry-After``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import stamina
from pydantic_ai.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelRequestTimeout,
    UnexpectedModelBehavior,
)
from pydantic_ai.messages import (
    FinishReason,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RequestUsage

from frontdesk.model.http import retry_after

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 10.0  # seconds; a longer wait is the turn's to give up on, not ours to sleep
FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_call",
    "content_filter": "content_filter",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to post: OpenAI-style (``{base_url}/chat/completions``, Bearer) or Azure."""

    url: str
    headers: dict[str, str]
    model: str | None  # sent in the body; Azure names the deployment in the URL instead

    @classmethod
    def openai(cls, base_url: str | None, model: str, key: str) -> Endpoint:
        base = (base_url or "https://api.openai.com/v1").rstrip("/")
        return cls(f"{base}/chat/completions", {"authorization": f"Bearer {key}"}, model)

    @classmethod
    def azure(cls, endpoint: str, deployment: str, api_version: str, key: str) -> Endpoint:
        path = f"/openai/deployments/{deployment}/chat/completions?api-version={api_version}"
        return cls(endpoint.rstrip("/") + path, {"api-key": key}, None)


class ChatCompletionsModel(Model):
    def __init__(
        self,
        endpoint: Endpoint,
        model_name: str,
        *,
        http: httpx.AsyncClient,
        timeout: float,
        max_retries: int,
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self._model_name = model_name
        self.http = http
        self.timeout = timeout
        self.max_retries = max_retries

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def system(self) -> str:
        return "openai"

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        body = json.dumps(self.body(messages, model_settings or {}, model_request_parameters)).encode()
        data = await self._post(body)
        return self.response(data)

    # -- the request ------------------------------------------------------------------------------

    def body(
        self, messages: list[ModelMessage], settings: ModelSettings, params: ModelRequestParameters
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": _messages(messages)}
        if self.endpoint.model is not None:
            out["model"] = self.endpoint.model
        tools = [*params.function_tools, *params.output_tools]
        if tools:
            out["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description or "",
                        "parameters": t.parameters_json_schema,
                    },
                }
                for t in tools
            ]
            out["tool_choice"] = "auto" if params.allow_text_output else "required"
        for key in ("temperature", "max_tokens", "top_p", "seed"):
            if settings.get(key) is not None:
                out[key] = settings[key]
        return out

    async def _post(self, body: bytes) -> dict[str, Any]:
        headers = {**self.endpoint.headers, "content-type": "application/json"}
        retries = stamina.retry_context(on=_retry, attempts=self.max_retries + 1, timeout=None, wait_max=8.0)
        async for attempt in retries:
            with attempt:
                return await self._send(body, headers)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        name = self.model_name
        try:
            response = await self.http.post(
                self.endpoint.url, content=body, headers=headers, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise ModelRequestTimeout(name, self.timeout) from None
        except httpx.TransportError as exc:
            raise ModelConnectionError(name, f"cannot reach the model endpoint: {exc!r}") from None
        if response.status_code >= 400:
            raise ModelHTTPError(
                response.status_code,
                name,
                _error_body(response),
                headers=dict(response.headers),
                retry_after=_retry_after(response),
            )
        try:
            data = response.json()
        except ValueError:
            raise UnexpectedModelBehavior(
                f"Failed to decode response as JSON: {response.text[:200]!r}"
            ) from None
        if not isinstance(data, dict) or not data.get("choices"):
            raise UnexpectedModelBehavior(f"the response has no choices: {response.text[:200]!r}")
        return data

    # -- the response -----------------------------------------------------------------------------

    def response(self, data: dict[str, Any]) -> ModelResponse:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        parts: list[ModelResponsePart] = []
        if message.get("content"):
            parts.append(TextPart(message["content"]))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(
                ToolCallPart(function.get("name", ""), function.get("arguments") or "{}", call.get("id"))
            )
        usage = data.get("usage") or {}
        return ModelResponse(
            parts=parts,
            usage=RequestUsage(
                input_tokens=usage.get("prompt_tokens") or 0,
                output_tokens=usage.get("completion_tokens") or 0,
            ),
            model_name=data.get("model") or self.model_name,
            provider_name="openai",
            provider_response_id=data.get("id"),
            finish_reason=FINISH.get(choice.get("finish_reason") or ""),
        )


def _messages(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    """pydantic-ai's messages as Chat Completions messages, the latest instructions first."""
    out: list[dict[str, Any]] = []
    instructions = next(
        (m.instructions for m in reversed(messages) if isinstance(m, ModelRequest) and m.instructions), None
    )
    if instructions:
        out.append({"role": "system", "content": instructions})
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, SystemPromptPart):
                    out.append({"role": "system", "content": part.content})
                elif isinstance(part, UserPromptPart):
                    if not isinstance(part.content, str):
                        raise UnexpectedModelBehavior("only text can be sent to this model")
                    out.append({"role": "user", "content": part.content})
                elif isinstance(part, ToolReturnPart):
                    content = part.model_response_str()
                    out.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": content})
                elif isinstance(part, RetryPromptPart):  # pragma: no cover - the loop does not send them
                    out.append({"role": "user", "content": part.model_response()})
            continue
        assistant: dict[str, Any] = {"role": "assistant", "content": None}
        texts = [p.content for p in message.parts if isinstance(p, TextPart)]
        if texts:
            assistant["content"] = "\n\n".join(texts)
        calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
        if calls:
            assistant["tool_calls"] = [
                {
                    "id": c.tool_call_id,
                    "type": "function",
                    "function": {"name": c.tool_name, "arguments": c.args_as_json_str()},
                }
                for c in calls
            ]
        out.append(assistant)
    return out


def _error_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _retry_after(response: httpx.Response) -> float | None:
    wait = retry_after(response)
    return min(wait, MAX_RETRY_AFTER) if wait is not None else None


def _retry(exc: Exception) -> bool | float:
    """stamina's hook: retry connection failures and transient statuses, after Retry-After if given."""
    if isinstance(exc, ModelHTTPError):
        return exc.status_code in RETRY_STATUS and (exc.retry_after or True)
    return isinstance(exc, ModelConnectionError)
