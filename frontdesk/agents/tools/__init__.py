"""The tools an agent can be given, by name. Each module holds its tools' schemas and handlers."""

from __future__ import annotations

from frontdesk.agents.tools import calendar, handoff, knowledge, records
from frontdesk.agents.tools.base import Tool, ToolContext, ToolError

BUILTIN: dict[str, Tool] = {
    t.name: t for t in (*calendar.TOOLS, *knowledge.TOOLS, *records.TOOLS, *handoff.TOOLS)
}

__all__ = ["BUILTIN", "Tool", "ToolContext", "ToolError"]
