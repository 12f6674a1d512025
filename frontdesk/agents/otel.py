"""Agent runs as OpenTelemetry GenAI spans, when the ``otel`` extra is installed and configured.

On only if ``opentelemetry-sdk`` and the OTLP/HTTP exporter import and
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise every call is a no-op. Spans follow the GenAI
semantic conventions: ``invoke_agent {name}`` for the run, ``chat {model}`` per model call,
``execute_tool {tool}`` per tool call. Steps carry durations, not start times, so child spans are
laid end to end from the run's start (in the order they happened).

Frontdesk uses its own tracer provider rather than the global one, so an application embedding
Frontdesk keeps its own OpenTelemetry set-up.
"""

from __future__ import annotations

import os
from typing import Any

import structlog

log = structlog.get_logger(__name__)
_state: dict[str, Any] = {}


def tracer() -> Any:
    """The tracer for agent runs, or None when export is off."""
    if "tracer" in _state:
        return _state["tracer"]
    _state["tracer"] = None
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is missing: pip install 'frontdesk[otel]'"
        )
        return None
    service = os.environ.get("OTEL_SERVICE_NAME", "frontdesk")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _state["tracer"] = provider.get_tracer("frontdesk.agents")
    return _state["tracer"]


def export(row: dict[str, Any], agent_name: str, tracer_: Any = None) -> None:
    """Emit one run (a row of ``agent_runs``) as spans."""
    t = tracer_ or tracer()
    if t is None:
        return
    from opentelemetry import trace

    start = int(row["started_at"].timestamp() * 1e9)
    end = start + int(row["latency_ms"] * 1e6)
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": row["agent_id"],
        "gen_ai.agent.name": agent_name,
        "gen_ai.conversation.id": row["conversation_id"],
        "gen_ai.usage.input_tokens": row["tokens_in"],
        "gen_ai.usage.output_tokens": row["tokens_out"],
        "frontdesk.run_id": row["run_id"],
        "frontdesk.tenant_id": row["tenant_id"],
        "frontdesk.agent.kind": row["agent_kind"],
        "frontdesk.handoff": row["handoff"],
    }
    if row["model"]:
        attributes["gen_ai.request.model"] = row["model"]
    if row["confidence"] is not None:
        attributes["frontdesk.confidence"] = row["confidence"]
    if row["error"]:
        attributes["error.type"] = row["error"].split(":", 1)[0][:100]
    parent = t.start_span(f"invoke_agent {agent_name}", start_time=start, attributes=attributes)
    context = trace.set_span_in_context(parent)
    at = start
    for step in row["steps"]:
        child = _child(step)
        if child is None:
            continue
        name, attrs = child
        duration = int(float(step.get("latency_ms") or 0) * 1e6)
        if step.get("error"):
            attrs["error.type"] = str(step["error"]).split(":", 1)[0][:100]
        span = t.start_span(name, context=context, start_time=at, attributes=attrs)
        span.end(end_time=at + duration)
        at += duration
    parent.end(end_time=max(end, at))


def _child(step: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if step["type"] == "model_call":
        model = step.get("model") or ""
        return f"chat {model}".strip(), {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": int(step.get("tokens_in") or 0),
            "gen_ai.usage.output_tokens": int(step.get("tokens_out") or 0),
        }
    if step["type"] == "tool_call":
        return f"execute_tool {step.get('name')}", {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": str(step.get("name")),
        }
    if step["type"] == "remote_call":
        return "invoke_agent remote", {"gen_ai.operation.name": "invoke_agent"}
    return None
