"""Who may make configuration read the environment, and which variables (``security/env_refs.py``).

Two kinds of reference:

* *stored* references, read at run time: an llm agent's ``config.api_key_env``, the calendar's
  ``caldav.password_env`` / ``google.access_token_env`` / ``google.client_secret_env`` and
  ``${env:NAME}`` in an HTTP action's headers. Every writer is held to the tenant's prefix
  (``problems``); a tenant token may keep the ones the operator wrote, never add one
  (``check``), so it cannot learn or redirect anything outside its own variables.
* *import* references, ``${NAME}`` as a secret's value in an imported document (channel
  credentials, agent and tenant secrets), read once while importing (``resolve``). Only the
  platform reads them; a tenant token gets one fixed refusal, whether the variable exists or not.
"""

from __future__ import annotations

import os
import re
from typing import Any

from frontdesk.errors import ConfigError
from frontdesk.security import env_refs
from frontdesk.security.tokens import Principal

IMPORT_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
HEADER_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
CALENDAR_ENV_FIELDS = (
    ("caldav", "password_env"),
    ("google", "access_token_env"),
    ("google", "client_secret_env"),
)


def references(kind: str, data: Any) -> list[tuple[str, str]]:
    """The stored references of an object as (field, variable name)."""
    if not isinstance(data, dict):
        return []
    out: list[tuple[str, str]] = []
    if kind == "agent":
        config = data.get("config")
        name = config.get("api_key_env") if isinstance(config, dict) else None
        if isinstance(name, str) and name:
            out.append(("config.api_key_env", name))
    elif kind == "tenant":
        settings = _object(data.get("settings"))
        calendar = _object(settings.get("calendar"))
        for block, key in CALENDAR_ENV_FIELDS:
            node = calendar.get(block)
            name = node.get(key) if isinstance(node, dict) else None
            if isinstance(name, str) and name:
                out.append((f"settings.calendar.{block}.{key}", name))
        actions = settings.get("http_actions")
        for i, action in enumerate(actions if isinstance(actions, list) else []):
            headers = action.get("headers") if isinstance(action, dict) else None
            for header, value in (headers if isinstance(headers, dict) else {}).items():
                for name in HEADER_REF.findall(value) if isinstance(value, str) else ():
                    out.append((f"settings.http_actions[{i}].headers.{header}", name))
    return out


def problems(kind: str, data: Any, tenant_id: str) -> list[dict[str, str]]:
    """Stored references to variables that are not ``tenant_id``'s, as {field, message}."""
    out = []
    for field, name in references(kind, data):
        problem = env_refs.problem(name, tenant_id)
        if problem:
            out.append({"field": field, "message": problem})
    return out


def check(kind: str, data: Any, current: dict[str, Any] | None, principal: Principal) -> None:
    """Refuse a write whose stored references break the rule (ConfigError, 422).

    The platform may name the tenant's variables only; a tenant token may keep the references the
    operator wrote (``current``), never add one.
    """
    if principal.is_superuser:
        details = problems(kind, data, str(data.get("tenant_id")))
    else:
        kept = {name for _, name in references(kind, current)} if current else set()
        details = [
            {"field": field, "message": env_refs.TENANT_REFUSAL}
            for field, name in references(kind, data)
            if name not in kept
        ]
    if details:
        text = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise ConfigError(f"Invalid {kind} {data.get(f'{kind}_id')!r}: {text}", details=details)


def resolve(
    value: Any,
    *,
    where: str,
    tenant_id: str,
    principal: Principal,
    placeholders: tuple[str, ...],
    stored: Any,
) -> Any:
    """An imported secret: ``${NAME}`` read from the environment, or the ``stored`` value kept.

    ``placeholders`` are what an export writes for this secret: given back with a value stored,
    they keep it (re-importing an export changes nothing), whoever imports. Anything else reads
    the environment only for the platform and only under the tenant's prefix.
    """
    ref = IMPORT_REF.match(value) if isinstance(value, str) else None
    if ref is None:
        return value
    name, kept = ref.group(1), stored not in (None, "")
    if not principal.is_superuser:
        if kept and value in placeholders:
            return stored
        raise ConfigError(f"{where}: {env_refs.TENANT_REFUSAL}")
    problem = env_refs.problem(name, tenant_id)
    if problem is None and name in os.environ:
        return os.environ[name]
    if kept and (problem is None or value in placeholders):
        return stored
    if problem:
        raise ConfigError(f"{where}: {problem}")
    raise ConfigError(f"{where} refers to environment variable {name}, which is not set")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
