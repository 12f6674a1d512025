"""The model an ``llm`` agent talks to, and the recorder that times each of its calls.

Clients are built once per (endpoint, model, key, limits) and kept by the agent registry: an
OpenAI client holds a connection pool, and building one costs more than a whole turn's own work.
The key is always given explicitly (a placeholder for keyless local servers), so a tenant's agent
never picks up the operator's ``OPENAI_API_KEY`` from the environment.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import httpx2
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from frontdesk.agents.chat_completions import ChatCompletionsModel, Endpoint
from frontdesk.agents.deps import AgentDeps
from frontdesk.config.agent_secrets import agent_secret
from frontdesk.errors import ConfigError
from frontdesk.model.llm_config import LlmAgentSettings
from frontdesk.security import env_refs
from frontdesk.security.ssrf import allow_list, check_url

KEYLESS = "not-needed"  # what a local OpenAI-compatible server without authentication gets
CHECK_SECONDS = 60.0
_checked: dict[tuple[str, str], float] = {}


async def check_endpoint(deps: AgentDeps, settings: LlmAgentSettings) -> None:
    """Refuse an endpoint on the operator's own network (FRONTDESK_HTTP_ACTIONS_ALLOW opens it).

    The endpoint is the tenant's choice, like an HTTP action's URL. This early check gives a clear
    error before a model call; the model clients' pool (``AgentRegistry``) checks again at every new
    connection and connects to the address it checked, so a DNS answer that changes is caught too.
    """
    url = settings.azure.endpoint if settings.azure else settings.base_url
    if not url:
        return  # OpenAI's own endpoint
    key = (url, str(getattr(deps.settings, "http_actions_allow", "")))
    if _checked.get(key, 0.0) > time.monotonic():
        return
    await check_url(httpx.URL(url), allow_list(deps.settings))
    _checked[key] = time.monotonic() + CHECK_SECONDS


def api_key(deps: AgentDeps, agent: Any, settings: LlmAgentSettings) -> str | None:
    """The agent's key: its encrypted ``api_key`` if set, else the variable named by ``api_key_env``."""
    if deps is not None:
        key = agent_secret(deps.secrets, agent, "api_key")
        if key:
            return key
    if settings.api_key_env:
        # The platform wrote the name; checked again here, as stored rows may predate the rule.
        key = env_refs.read(settings.api_key_env, agent.tenant_id)
        if not key:
            raise ConfigError(
                f"environment variable {settings.api_key_env} (api_key_env) is not set or not this "
                f"tenant's (variables named {env_refs.tenant_prefix(agent.tenant_id)}<NAME>)"
            )
        return key
    return None


def client_key(settings: LlmAgentSettings, key: str | None) -> tuple:
    azure = settings.azure.model_dump() if settings.azure else None
    return (
        settings.base_url,
        settings.model_name,
        repr(azure),
        key,
        settings.timeout_seconds,
        settings.max_retries,
    )


def build_model(settings: LlmAgentSettings, key: str | None, http: httpx2.AsyncClient) -> Model:
    """A Chat Completions model for ``settings`` (Azure OpenAI when ``azure`` is set) on ``http``'s pool."""
    azure = settings.azure
    if azure is not None:
        endpoint = Endpoint.azure(azure.endpoint, azure.deployment, azure.api_version, key or KEYLESS)
        name = azure.deployment
    else:
        endpoint = Endpoint.openai(settings.base_url, settings.model_name, key or KEYLESS)
        name = settings.model_name
    return ChatCompletionsModel(
        endpoint, name, http=http, timeout=settings.timeout_seconds, max_retries=settings.max_retries
    )


def model_settings(settings: LlmAgentSettings) -> ModelSettings:
    out = ModelSettings(timeout=settings.timeout_seconds)
    if settings.temperature is not None:
        out["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        out["max_tokens"] = settings.max_tokens
    return out


def describe(exc: BaseException) -> str:
    """An exception as one line for a trace and a reason (never a stack trace)."""
    if isinstance(exc, ModelHTTPError):
        body = exc.body
        error = body.get("error") if isinstance(body, dict) else body
        message = error.get("message") if isinstance(error, dict) else error
        return " ".join(f"HTTP {exc.status_code}: {message or ''}".split())[:300]
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RecordingModel(WrapperModel):
    """Appends one ``model_call`` step per request to ``steps``: latency, tokens, tool calls, error."""

    def __init__(self, wrapped: Model, steps: list[dict[str, Any]]) -> None:
        super().__init__(wrapped)
        self.steps = steps
        self.calls = 0
        self.latency_ms = 0.0

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        self.calls += 1
        step: dict[str, Any] = {"type": "model_call", "iteration": self.calls, "model": self.model_name}
        started = time.perf_counter()
        try:
            response = await super().request(messages, model_settings, model_request_parameters)
        except Exception as exc:
            step["error"] = describe(exc)
            raise
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.latency_ms += elapsed
            step["latency_ms"] = round(elapsed, 2)
            self.steps.append(step)
        step["tokens_in"] = response.usage.input_tokens
        step["tokens_out"] = response.usage.output_tokens
        step["tool_calls"] = [p.tool_name for p in response.parts if isinstance(p, ToolCallPart)]
        return response
