"""``lookup_record``: a row of one of the tenant's datasets, only if it belongs to the contact writing.

"Not found" is one answer whether the row does not exist or is another customer's, so the agent
cannot be used to learn that someone else's policy number exists.
"""

from __future__ import annotations

from typing import Any

from frontdesk.agents.tools.base import Tool, ToolContext, ToolError
from frontdesk.records import store

NOT_FOUND = "No record with this key is linked to this customer."


async def lookup_record(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    name, key = args.get("dataset"), args.get("key")
    if not isinstance(name, str) or not name.strip():
        raise ToolError("dataset is required: the name of one of the business's datasets")
    if key is not None and (not isinstance(key, str | int) or isinstance(key, bool)):
        raise ToolError("key must be a string, like a policy or order number")
    db = ctx.deps.db
    ds = await store.dataset(db, ctx.tenant_id, name.strip())
    if ds is None:
        known = [x["dataset"] for x in await store.datasets(db, ctx.tenant_id)]
        raise ToolError(f"unknown dataset {name!r}; the datasets are: {', '.join(known) or 'none'}")
    wanted = str(key).strip() if key is not None and str(key).strip() else None
    rows = await store.rows_for(db, ctx.tenant_id, ds["dataset"], ds["contact_kind"], ctx.contact_id, wanted)
    if wanted is not None:
        if not rows:
            return {"found": False, "dataset": ds["dataset"], "key": wanted, "message": NOT_FOUND}
        return {"found": True, "dataset": ds["dataset"], "key": rows[0]["key"], "record": rows[0]["data"]}
    return {"found": bool(rows), "dataset": ds["dataset"], "records": [x["data"] for x in rows]}


TOOLS: list[Tool] = [
    Tool(
        name="lookup_record",
        description=(
            "Look up the customer's own record in one of the business's datasets (for example a policy "
            "or an order) by its key. Only records linked to the customer who is writing are returned; "
            "without a key, all of that customer's records in the dataset (up to 20)."
        ),
        parameters={
            "type": "object",
            "properties": {
                "dataset": {"type": "string", "description": "dataset name, e.g. 'policies'"},
                "key": {"type": "string", "description": "the record's key, e.g. a policy number"},
            },
            "required": ["dataset"],
            "additionalProperties": False,
        },
        handler=lookup_record,
    )
]
