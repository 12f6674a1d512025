"""``search_knowledge``: the tenant's knowledge entries (the FAQ agent's index), for the model to quote."""

from __future__ import annotations

import asyncio
from typing import Any

from frontdesk.agents.tools.base import Tool, ToolContext, ToolError

MAX_RESULTS = 3
# Below this the entry is most likely about something else; the model is better told "nothing".
MIN_CONFIDENCE = 0.2


async def search_knowledge(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    query = str(args.get("query") or "").strip()
    if not query:
        raise ToolError("query must not be empty: pass the customer's question in your own words")
    revision = ctx.tenant.revision if ctx.tenant is not None else 0
    index = await ctx.deps.agents.knowledge_index(ctx.deps.db, ctx.tenant_id, revision)
    found = await asyncio.to_thread(index.search, query, MAX_RESULTS)
    matches = [m for m in found if m.confidence >= MIN_CONFIDENCE]
    return {
        "results": [
            {"question": m.question, "answer": m.answer, "confidence": m.confidence} for m in matches
        ],
        "note": "" if matches else "Nothing in the knowledge base answers this.",
    }


TOOLS: list[Tool] = [
    Tool(
        name="search_knowledge",
        description=(
            "Search the business's knowledge base (questions and answers the business wrote). "
            "Use it before answering any question about the business you are not given above."
        ),
        parameters={
            "type": "object",
            "properties": {"query": {"type": "string", "description": "what the customer wants to know"}},
            "required": ["query"],
            "additionalProperties": False,
        },
        handler=search_knowledge,
        timeout_s=5.0,
    )
]
