"""The ``llm`` agent: an OpenAI-compatible model with tools, answering through a structured reply.

One turn: the system prompt is rendered from the business profile (``prompts.py``), the history is
cut to the budget (``history.py``), and the model may call the agent's tools, at most
``max_iterations`` model calls in all. It ends by calling ``final_answer`` with the reply, its
confidence and whether a person is needed; the turn's guard acts on those.

Whatever fails (the endpoint down, slow or talking nonsense, a tool raising, a loop that does not
converge, a missing key) the customer gets the agent's fallback text, the conversation is flagged
for a person with the reason, and the trace keeps every step up to the failure.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from pydantic import BaseModel, Field, field_validator
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelRequestTimeout,
    ModelTimeoutError,
    UnexpectedModelBehavior,
)
from pydantic_ai.models import Model
from pydantic_ai.tools import ToolDefinition

from frontdesk.agents import history, llm_loop, llm_model, llm_tools, prompts
from frontdesk.agents.base import Agent
from frontdesk.agents.deps import AgentDeps
from frontdesk.agents.tools import ToolContext
from frontdesk.channels.formatting import BUTTON_TITLE_CHARS, MAX_BUTTONS
from frontdesk.model.llm_config import LlmAgentSettings
from frontdesk.model.messages import AgentReply, Turn
from frontdesk.model.routing import AgentInfo, TenantInfo
from frontdesk.security.redact import Redactor

log = structlog.get_logger(__name__)
FINAL_ANSWER = "final_answer"


class Answer(BaseModel):
    """The reply of a turn, with how sure the model is and whether a person should look."""

    text: str = Field(description="the message to send to the customer")
    confidence: float = Field(
        description="from 0 to 1: how sure you are that the reply is correct and complete"
    )
    needs_human: bool = Field(
        default=False, description="true when a person of the business should look at this conversation"
    )
    reason: str = Field(default="", description="why a person is needed, when needs_human is true")
    buttons: list[str] = Field(
        default_factory=list,
        description=(
            f"up to {MAX_BUTTONS} short choices (at most {BUTTON_TITLE_CHARS} characters each) the "
            "customer can tap to answer, when the reply asks them to pick one; usually empty"
        ),
    )

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp(cls, v: Any) -> float:
        # Models say 1.2 or "0.9"; a confidence is not worth a failed turn.
        try:
            value = float(v)
        except (TypeError, ValueError):
            return 0.0
        return 0.0 if math.isnan(value) else min(1.0, max(0.0, value))

    @field_validator("buttons", mode="before")
    @classmethod
    def _choices(cls, v: Any) -> list[str]:
        # Kept to what every channel can show rather than failing the turn over a long label.
        if not isinstance(v, list):
            return []
        titles = [
            " ".join(str(t).split())[:BUTTON_TITLE_CHARS] for t in v if isinstance(t, str | int | float)
        ]
        return list(dict.fromkeys(t for t in titles if t))[:MAX_BUTTONS]


OUTPUT = llm_loop.Output(
    ToolDefinition(
        name=FINAL_ANSWER,
        parameters_json_schema=Answer.model_json_schema(),
        description="Send your reply; end every turn with it.",
        kind="output",
    ),
    Answer,
)


class LlmAgent(Agent):
    def __init__(
        self,
        deps: AgentDeps,
        info: AgentInfo,
        tenant: TenantInfo | None,
        *,
        model: Model | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.deps = deps
        self.info = info
        self.tenant = tenant
        self.settings = LlmAgentSettings.model_validate(info.config)
        self._model = model
        self.redactor = redactor or Redactor()

    async def reply(self, turn: Turn) -> AgentReply:
        steps: list[dict[str, Any]] = []
        effects: dict[str, Any] = {}
        try:
            answer = await self._run(turn, steps, effects)
        except Exception as exc:
            return self._fallback(steps, effects, _failure(exc, self.settings))
        handoff = effects.get("handoff")
        text = answer.text.strip()
        if not text and not handoff:
            return self._fallback(steps, effects, "the model's reply was empty")
        reason = None
        if handoff:
            reason = str(handoff)  # the tool's reason, as the model wrote it
        elif answer.needs_human:
            reason = answer.reason.strip() or "the agent asked for a person"
        return AgentReply(
            texts=[text or self.settings.handoff_text],
            confidence=answer.confidence,
            handoff=reason is not None,
            reason=reason,
            trace=steps,
            effects=effects,
            buttons=answer.buttons,
        )

    async def _run(self, turn: Turn, steps: list[dict[str, Any]], effects: dict[str, Any]) -> Answer:
        settings = self.settings
        now = prompts.tenant_now(self.tenant)
        prompt = prompts.render_system_prompt(self.tenant, self.info, now=now, channel=turn.channel_type)
        steps.append(
            {
                "type": "prompt",
                "template_source": prompt.source,
                "chars": len(prompt.text),
                "error": prompt.error,
            }
        )
        ctx = ToolContext(
            deps=self.deps,
            tenant_id=turn.tenant_id,
            agent_id=self.info.agent_id,
            conversation_id=turn.conversation_id,
            contact_id=turn.contact_id,
            channel_id=turn.channel_id,
            contact_address=turn.contact_address,
            now=now,
            tenant=self.tenant,
            agent=self.info,
            effects=effects,
        )
        tools, unknown = await llm_tools.resolve(self.deps, turn.tenant_id, settings.tools)
        if unknown:
            steps.append({"type": "warning", "message": f"unknown tool(s) skipped: {', '.join(unknown)}"})
            log.warning("unknown tools skipped", agent_id=self.info.agent_id, tools=unknown)
        limit = settings.tool_timeout_seconds
        model = llm_model.RecordingModel(self._model or await self._build_model(), steps)
        return await llm_loop.run(
            model,
            instructions=prompt.text,
            history=history.history_messages(turn, settings.history_messages, settings.max_history_chars),
            prompt=history.user_prompt(turn),
            tools=[llm_tools.adapt(t, ctx, steps, self.redactor, limit) for t in tools],
            output=OUTPUT,
            max_requests=settings.max_iterations,
            model_settings=llm_model.model_settings(settings),
        )

    async def _build_model(self) -> Model:
        await llm_model.check_endpoint(self.deps, self.settings)
        key = llm_model.api_key(self.deps, self.info, self.settings)
        return self.deps.agents.llm_model(self.settings, key)

    def _fallback(self, steps: list[dict[str, Any]], effects: dict[str, Any], error: str) -> AgentReply:
        log.warning("llm agent fell back", agent_id=self.info.agent_id, error=error)
        return AgentReply(
            texts=[self.settings.fallback_text],
            confidence=0.0,
            handoff=True,
            reason=f"the LLM agent failed: {error}"[:500],
            trace=steps,
            error=error,
            effects=effects,
        )


def _failure(exc: BaseException, settings: LlmAgentSettings) -> str:
    """What went wrong, in words a person taking over can act on."""
    if isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        return _failure(exc.exceptions[0], settings)
    if isinstance(exc, llm_loop.LoopError | llm_tools.ToolCrashed):
        return exc.message
    if isinstance(exc, TimeoutError | ModelTimeoutError | ModelRequestTimeout):
        return f"the model did not answer within {settings.timeout_seconds:g}s"
    if isinstance(exc, ModelAPIError):
        return f"the model endpoint failed ({llm_model.describe(exc)})"
    if isinstance(exc, UnexpectedModelBehavior):
        return f"the model's answer could not be used ({llm_model.describe(exc)})"
    return llm_model.describe(exc)
