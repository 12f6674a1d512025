"""The agents' checks of configuration, registered with ``config.validation`` by ``register()``.

A remote agent's URL and secret, a router's routes and a tenant's HTTP actions are validated by the
code that uses them; the configuration layer only knows there are rules to run.
"""

from __future__ import annotations

from typing import Any

from frontdesk.agents.remote import config_errors as remote_errors
from frontdesk.agents.router import config_errors as router_errors
from frontdesk.agents.tools import BUILTIN
from frontdesk.agents.tools.http_actions import config_errors as action_errors
from frontdesk.config.validation import register_rule
from frontdesk.settings import get_settings


def agent_config(model: Any) -> list[dict[str, str]]:
    if model.kind == "remote":
        return remote_errors(model.config, get_settings())
    if model.kind == "router":
        return router_errors(model.config, model.agent_id)
    return []


def tenant_actions(model: Any) -> list[dict[str, str]]:
    actions = model.settings.get("http_actions")
    if actions is None:
        return []
    return action_errors(actions, get_settings(), set(BUILTIN))


def register() -> None:
    """Wire the agents' rules into configuration validation (the runtime and Python API call it)."""
    register_rule("agent", agent_config)
    register_rule("tenant", tenant_actions)
