"""Frontdesk tools as the llm loop's tools for one turn: timed, bounded, recorded, redacted.

A ``ToolError`` is a refusal the model should see (bad arguments, no free slot): it goes back to
the model as a failed tool result and the run goes on. Anything else (a bug, a timeout) is a tool
that failed: the run stops, the customer gets the fallback and a person is asked.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from pydantic_ai.tools import ToolDefinition

from frontdesk.agents.deps import AgentDeps
from frontdesk.agents.llm_loop import LoopTool
from frontdesk.agents.llm_model import describe
from frontdesk.agents.tools import BUILTIN, Tool, ToolContext, ToolError, http_actions
from frontdesk.errors import ToolCrashed
from frontdesk.security.redact import Redactor

log = structlog.get_logger(__name__)
RESULT_CHARS = 300


async def resolve(deps: AgentDeps, tenant_id: str, names: list[str]) -> tuple[list[Tool], list[str]]:
    """The tools named (built-ins, then the tenant's HTTP actions), and the names nothing answers to."""
    available: dict[str, Tool] = dict(BUILTIN)
    if deps is not None and any(name not in available for name in names):
        for tool in await http_actions.tenant_tools(deps, tenant_id):
            available.setdefault(tool.name, tool)
    return [available[n] for n in names if n in available], [n for n in names if n not in available]


def adapt(
    tool: Tool, ctx: ToolContext, steps: list[dict[str, Any]], redactor: Redactor, timeout: float | None
) -> LoopTool:
    limit = timeout or tool.timeout_s

    async def call(args: dict[str, Any]) -> Any:
        step: dict[str, Any] = {"type": "tool_call", "name": tool.name, "arguments": redactor.value(args)}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                result = await tool.handler(ctx, args)
        except ToolError as exc:
            step["error"] = exc.message
            raise
        except TimeoutError:
            step["error"] = f"timed out after {limit:g}s"
            raise ToolCrashed(tool.name, step["error"]) from None
        except Exception as exc:
            step["error"] = describe(exc)
            log.warning("tool failed", tool=tool.name, error=step["error"], exc_info=True)
            raise ToolCrashed(tool.name, step["error"]) from exc
        finally:
            step["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
            steps.append(step)
        step["result"] = summary(result, redactor)
        return result

    definition = ToolDefinition(
        name=tool.name, parameters_json_schema=tool.parameters, description=tool.description, sequential=True
    )
    return LoopTool(definition, call)


def summary(result: Any, redactor: Redactor) -> str:
    try:
        text = json.dumps(redactor.value(result), default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(result)
    return text if len(text) <= RESULT_CHARS else text[: RESULT_CHARS - 1] + "…"
