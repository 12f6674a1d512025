"""Recording agent runs: a stored row per run, a ``[TRACE]`` log line per step, an optional OTel span.

Every agent kind is recorded the same way, from its ``AgentReply.trace`` (a list of step dicts with
a ``type``). The row is written in the turn's own transaction (``store.conversations``, with
``store.runs``), so a run costs no extra round trip. Log lines follow the format the earlier
system's operators grep for::

    [TRACE] Run started: run_id=run_… agent=asst_x | user=3f2a… | kind=llm | message_id=42 | …
    [TRACE] LLM call: iteration=1 | model=gpt-4o-mini | latency=812.4ms | tokens=512/40 | tool_calls=…
    [TRACE] Tool call: search_knowledge | args={…} | latency=3.1ms | success=True
    [TRACE] Run finished: run_id=run_… | success=True | latency=1234.56ms | tools=1 | errors=0 | …

Customer addresses are hashed and message text left out of logs unless ``FRONTDESK_LOG_PII=true``;
stored steps always have personal data redacted.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import structlog

from frontdesk.agents import otel
from frontdesk.agents.deps import AgentDeps
from frontdesk.model.ids import new_id
from frontdesk.model.messages import AgentReply, Turn
from frontdesk.model.routing import AgentInfo
from frontdesk.security.redact import Redactor
from frontdesk.store.db import utcnow

log = structlog.get_logger("frontdesk.trace")
# Step fields that may carry what a customer wrote or a tool returned about them.
PAYLOAD_FIELDS = frozenset({"arguments", "args", "result", "request", "response", "input", "output"})
TIMED_CALLS = frozenset({"model_call", "remote_call"})


def _tracing() -> bool:
    """Whether ``[TRACE]`` lines are logged at all: their text (hashing the customer's address
    among others) is not built for nothing on every turn."""
    enabled = getattr(log, "is_enabled_for", None)
    return enabled is None or bool(enabled(logging.INFO))


class RunRecorder:
    """One agent run: started when built, finished with the reply and the guard's decision."""

    def __init__(self, deps: AgentDeps, turn: Turn, agent: AgentInfo) -> None:
        self.turn = turn
        self.agent = agent
        self.run_id = new_id("run")
        self.started_at = utcnow()
        self._t0 = time.perf_counter()
        key = deps.secrets.derive("pii")
        self.stored = Redactor(key)
        self.logged = Redactor(key, reveal=deps.settings.log_pii)
        self.row: dict[str, Any] | None = None
        if not _tracing():
            return
        log.info(
            f"[TRACE] Run started: run_id={self.run_id} agent={agent.agent_id} | "
            f"user={self.logged.user(turn.contact_address or turn.contact_id)} | kind={agent.kind} | "
            f"conversation={turn.conversation_id} | message_id={turn.new_messages[-1].id} | "
            f"text={self.logged.message(turn.text)}"
        )

    def finish(self, reply: AgentReply, flag: str | None) -> dict[str, Any]:
        """The run's row (also kept as ``self.row``); logs its steps and its end."""
        latency = (time.perf_counter() - self._t0) * 1000
        steps = [self._clean(s) for s in reply.trace]
        calls = [s for s in steps if s["type"] in TIMED_CALLS]
        self.row = row = {
            "run_id": self.run_id,
            "tenant_id": self.turn.tenant_id,
            "conversation_id": self.turn.conversation_id,
            "turn_id": self.turn.turn_id,
            "agent_id": self.agent.agent_id,
            "agent_kind": self.agent.kind,
            "model": next((s["model"] for s in calls if s.get("model")), None),
            "status": "error" if reply.error else "ok",
            "confidence": reply.confidence,
            "handoff": flag is not None,
            "handoff_reason": flag,
            "error": reply.error,
            "latency_ms": round(latency, 2),
            "model_latency_ms": round(sum(float(s.get("latency_ms") or 0) for s in calls), 2),
            "tokens_in": sum(int(s.get("tokens_in") or 0) for s in calls),
            "tokens_out": sum(int(s.get("tokens_out") or 0) for s in calls),
            "steps": steps,
            "started_at": self.started_at,
        }
        if _tracing():
            self._log_finish(reply, flag, steps, calls, latency)
        otel.export(row, self.agent.agent_name)
        return row

    def _log_finish(
        self,
        reply: AgentReply,
        flag: str | None,
        steps: list[dict[str, Any]],
        calls: list[dict[str, Any]],
        latency: float,
    ) -> None:
        for step in steps:
            log.info(step_line(step))
        errors = sum(1 for s in steps if s.get("error")) + (1 if reply.error and not steps else 0)
        log.info(
            f"[TRACE] Run finished: run_id={self.run_id} | success={reply.error is None} | "
            f"latency={latency:.2f}ms | model_calls={sum(1 for s in calls)} | "
            f"tools={sum(1 for s in steps if s['type'] == 'tool_call')} | errors={errors} | "
            f"confidence={reply.confidence:.2f} | handoff={flag is not None}"
            + (f" | error={self.logged.text(reply.error)}" if reply.error else "")
        )

    def _clean(self, step: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(step.get("type") or step.get("step") or "step")}
        for key, value in step.items():
            if key in ("type", "step"):
                continue
            if key in PAYLOAD_FIELDS:
                value = self.stored.value(value)
            elif isinstance(value, str):
                value = self.stored.text(value)
            out[key] = value
        # JSON-safe: what an agent put in its trace (datetimes, ids) must not break the write.
        return json.loads(json.dumps(out, default=str))


def step_line(step: dict[str, Any]) -> str:
    kind = step["type"]
    if kind == "model_call":
        text = (
            f"[TRACE] LLM call: iteration={step.get('iteration')} | model={step.get('model')} | "
            f"latency={step.get('latency_ms')}ms | tokens={step.get('tokens_in')}/{step.get('tokens_out')}"
            f" | tool_calls={','.join(step.get('tool_calls') or []) or '-'}"
        )
    elif kind == "tool_call":
        args = json.dumps(step.get("arguments"), ensure_ascii=False)
        text = (
            f"[TRACE] Tool call: {step.get('name')} | args={args} | latency={step.get('latency_ms')}ms | "
            f"success={not step.get('error')}"
        )
    else:
        fields = " | ".join(f"{k}={v}" for k, v in step.items() if k != "type" and v is not None)
        text = f"[TRACE] {kind.replace('_', ' ').capitalize()}: {fields}"
    return text + (f" | error={step['error']}" if step.get("error") else "")
