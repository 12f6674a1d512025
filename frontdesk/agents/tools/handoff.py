"""``handoff_to_human``: the model asks for a person. The turn flags the conversation with the reason."""

from __future__ import annotations

from typing import Any

from frontdesk.agents.tools.base import Tool, ToolContext

MAX_REASON = 300


async def handoff_to_human(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    reason = " ".join(str(args.get("reason") or "").split())[:MAX_REASON] or "the agent asked for a person"
    ctx.effects["handoff"] = reason
    return {
        "handed_off": True,
        "tell_the_customer": "A colleague has been asked to follow up; say so in your reply.",
    }


TOOLS: list[Tool] = [
    Tool(
        name="handoff_to_human",
        description=(
            "Ask a person of the business to take over this conversation: when the customer asks for a "
            "person, is upset, or needs something you cannot do or answer."
        ),
        parameters={
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": "why a person is needed, in one sentence"}
            },
            "required": ["reason"],
            "additionalProperties": False,
        },
        handler=handoff_to_human,
        timeout_s=5.0,
    )
]
