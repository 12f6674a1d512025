"""The ``config`` of an ``llm`` agent: which model, how to reach it, what it may do.

An OpenAI-compatible Chat Completions endpoint (``base_url`` + ``model``) or Azure OpenAI
(``azure``: endpoint, deployment, api_version). The API key is never written in the configuration
itself: ``api_key`` is stored encrypted (agent secrets) and exported as a reference, or
``api_key_env`` names an environment variable, which only the platform may set and only to one of
the tenant's (``security/env_refs.py``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_FALLBACK = (
    "Thanks for your message! I can't answer that right now, so I've asked a colleague to get back to you."
)
DEFAULT_HANDOFF_TEXT = "I've asked a colleague to follow up with you; they will be in touch soon."


class AzureTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    endpoint: str
    deployment: str
    api_version: str = "2024-10-21"

    @field_validator("endpoint")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError(f"azure.endpoint {v!r} must be an http(s) URL")
        return v


class LlmAgentSettings(BaseModel):
    # Other keys are allowed: an encrypted ``api_key`` is stored by the agent secrets, and other
    # kinds' keys survive a change of kind.
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    azure: AzureTarget | None = None
    instructions: str = ""
    tools: list[str] = Field(default_factory=list)
    history_messages: int = Field(default=10, ge=0, le=200)
    cross_channel_history: bool = False
    # The history's budget, in characters (about 4 per token), trimmed oldest first.
    max_history_chars: int = Field(default=12_000, ge=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    confidence_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    fallback_text: str = DEFAULT_FALLBACK
    handoff_text: str = DEFAULT_HANDOFF_TEXT
    # Model calls per turn, tool calls in between: a loop that does not converge stops here.
    max_iterations: int = Field(default=5, ge=1, le=50)
    tool_timeout_seconds: float | None = Field(default=None, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=1, ge=0, le=5)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("https://", "http://")):
            raise ValueError(f"base_url {v!r} must be an http(s) URL")
        return v or None

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        if v and not ENV_NAME.match(v):
            raise ValueError(f"api_key_env {v!r} must be the name of an environment variable, not a key")
        return v or None

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(t.strip() for t in v if t and t.strip()))

    @model_validator(mode="after")
    def _target(self) -> LlmAgentSettings:
        if self.azure is None and not self.model:
            raise ValueError("an llm agent needs config.model (or config.azure with a deployment)")
        return self

    @property
    def model_name(self) -> str:
        return self.azure.deployment if self.azure else str(self.model)


def check_llm_config(config: dict) -> LlmAgentSettings:
    """Validate an llm agent's ``config``; problems as one ValueError naming each ``config.<field>``."""
    from pydantic import ValidationError

    try:
        return LlmAgentSettings.model_validate(config)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in ("config", *err.get("loc", ())))
            problems.append(f"{where}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
        raise ValueError("; ".join(problems)) from None
