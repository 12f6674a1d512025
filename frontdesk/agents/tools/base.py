"""The tool contract: a name, a JSON schema of its arguments, and an async handler.

Tools run inside an agent's turn. A handler gets a ``ToolContext`` (who is writing, to which
tenant, through which agent) and the model's arguments, and returns something JSON-serializable
that goes back to the model. A handler refuses with ``ToolError``: its message is shown to the model
(not a stack trace), so the model can correct itself or tell the customer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from frontdesk.agents.deps import AgentDeps
from frontdesk.errors import ToolError as ToolError  # the contract's refusal, re-exported for tools
from frontdesk.model.routing import AgentInfo, TenantInfo


@dataclass(frozen=True, slots=True)
class ToolContext:
    deps: AgentDeps
    tenant_id: str
    agent_id: str
    conversation_id: str
    contact_id: str
    channel_id: str
    contact_address: str = ""
    # Now, as an aware datetime in the tenant's timezone ("next Tuesday" is the tenant's).
    now: datetime | None = None
    tenant: TenantInfo | None = None
    agent: AgentInfo | None = None
    # Set by handoff_to_human: the turn flags the conversation for a person with this reason.
    effects: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[ToolContext, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    handler: Handler
    timeout_s: float = 10.0
