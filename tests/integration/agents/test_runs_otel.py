"""Agent runs as OpenTelemetry GenAI spans: shape of the spans, and off unless configured and installed."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from typing import Any

import pytest

from frontdesk.agents import otel

# opentelemetry-api comes with pydantic-ai; the SDK (the ``otel`` extra) is not needed here.
trace = pytest.importorskip("opentelemetry.trace")


class FakeSpan(trace.NonRecordingSpan):
    def __init__(self, name: str, start: int, attributes: dict[str, Any], context: Any) -> None:
        super().__init__(trace.INVALID_SPAN_CONTEXT)
        self.name, self.start, self.attributes, self.context = name, start, attributes, context
        self.end_time: int | None = None

    def end(self, end_time: int | None = None) -> None:
        self.end_time = end_time


class FakeTracer:
    def __init__(self) -> None:
        self.spans: list[FakeSpan] = []

    def start_span(
        self, name: str, context: Any = None, start_time: int = 0, attributes: Any = None
    ) -> FakeSpan:
        span = FakeSpan(name, start_time, dict(attributes or {}), context)
        self.spans.append(span)
        return span


ROW = {
    "run_id": "run_1",
    "tenant_id": "acme",
    "conversation_id": "conv_1",
    "agent_id": "asst_1",
    "agent_kind": "llm",
    "model": "gpt-4o-mini",
    "confidence": 0.4,
    "handoff": True,
    "error": "the tool loop did not converge within 2 model calls",
    "latency_ms": 40.0,
    "tokens_in": 300,
    "tokens_out": 20,
    "started_at": datetime(2026, 5, 4, 10, 0, tzinfo=UTC),
    "steps": [
        {"type": "prompt", "template_source": "default"},
        {
            "type": "model_call",
            "model": "gpt-4o-mini",
            "latency_ms": 10.0,
            "tokens_in": 150,
            "tokens_out": 10,
        },
        {"type": "tool_call", "name": "search_knowledge", "latency_ms": 5.0, "error": "ToolError: no"},
        {
            "type": "model_call",
            "model": "gpt-4o-mini",
            "latency_ms": 20.0,
            "tokens_in": 150,
            "tokens_out": 10,
        },
    ],
}


def test_run_becomes_genai_spans() -> None:
    tracer = FakeTracer()
    otel.export(ROW, "Ava", tracer)
    parent, chat1, tool, chat2 = tracer.spans
    start = int(ROW["started_at"].timestamp() * 1e9)
    assert parent.name == "invoke_agent Ava" and parent.start == start
    assert parent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert parent.attributes["gen_ai.agent.id"] == "asst_1"
    assert parent.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert parent.attributes["gen_ai.usage.input_tokens"] == 300
    assert parent.attributes["gen_ai.conversation.id"] == "conv_1"
    assert parent.attributes["error.type"] == "the tool loop did not converge within 2 model calls"
    assert parent.end_time == start + 40_000_000
    assert [s.name for s in (chat1, tool, chat2)] == [
        "chat gpt-4o-mini",
        "execute_tool search_knowledge",
        "chat gpt-4o-mini",
    ]
    assert (
        tool.attributes["gen_ai.tool.name"] == "search_knowledge"
        and tool.attributes["error.type"] == "ToolError"
    )
    assert chat1.attributes["gen_ai.usage.output_tokens"] == 10
    # Children laid end to end, inside the run, under the run's span.
    assert (chat1.start, chat1.end_time, tool.start, chat2.start) == (
        start,
        start + 10_000_000,
        start + 10_000_000,
        start + 15_000_000,
    )
    assert all(trace.get_current_span(s.context) is parent for s in (chat1, tool, chat2))


def test_off_without_endpoint_or_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel, "_state", {})
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert otel.tracer() is None
    otel.export(ROW, "Ava")  # a no-op, not an error
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        monkeypatch.setattr(otel, "_state", {})
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        assert otel.tracer() is None  # the extra is not installed: warned once, then off
