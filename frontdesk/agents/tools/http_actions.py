"""HTTP actions: tools a tenant defines in ``settings.http_actions`` to call its own services.

One action::

    {"name": "policy_status", "description": "Status of a policy by number",
     "parameters": {"type": "object", "properties": {"number": {"type": "string"}}, "required": ["number"]},
     "method": "GET", "url": "https://crm.example.com/policies/{number}",
     "headers": {"Authorization": "Bearer ${env:FRONTDESK_TENANT_ACME__CRM_TOKEN}"},
     "response_fields": ["status", "holder.name"], "timeout_s": 10}

``{arg}`` in the URL is URL-encoded; in a JSON body a string that is exactly ``"{arg}"`` takes the
argument's value with its type. Header values are stored encrypted (``config/tenant_secrets.py``);
the platform may instead have them read secrets it put in the environment, ``${env:NAME}``, where
NAME must be the tenant's (``FRONTDESK_TENANT_<TENANT>__<NAME>``, or the legacy
``FRONTDESK_ACTION_<TENANT>__<NAME>``; see ``security/env_refs.py``). Calls go through the SSRF
guard (``security/ssrf.py``), answers are capped in size and reduced to ``response_fields``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from urllib.parse import quote

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from frontdesk.agents.deps import AgentDeps
from frontdesk.agents.remote import url_problem
from frontdesk.agents.tools.base import Tool, ToolContext, ToolError
from frontdesk.config.tenant_secrets import unseal
from frontdesk.security import env_refs
from frontdesk.security.ssrf import DEFAULT_MAX_BYTES, BlockedDestination, OutboundError, allow_list, fetch

log = structlog.get_logger(__name__)
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
HEADER_TOKEN = re.compile(ENV_REF.pattern + "|" + PLACEHOLDER.pattern)
JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object"}
TEXT_LIMIT = 4000


class HttpAction(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str
    description: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    response_fields: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0, le=30)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError(f"name {v!r} must be 1-64 letters, digits, '_' or '-', starting with a letter")
        return v

    @field_validator("response_fields")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for path in v:
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"response field {path!r} must be a dotted path like 'holder.name'")
        return v

    @property
    def properties(self) -> dict[str, Any]:
        props = self.parameters.get("properties")
        return props if isinstance(props, dict) else {}


# -- definitions ----------------------------------------------------------------------------------


def config_errors(actions: Any, settings: Any, builtin: set[str]) -> list[dict[str, str]]:
    """Problems of a tenant's ``settings.http_actions`` as {field, message} (empty: fine)."""
    if actions is None:
        return []
    if not isinstance(actions, list):
        return [{"field": "settings.http_actions", "message": "must be a list of actions"}]
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, raw in enumerate(actions):
        where = f"settings.http_actions[{i}]"
        try:
            action = HttpAction.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                field = ".".join([where, *map(str, e["loc"])])
                out.append({"field": field, "message": e["msg"].removeprefix("Value error, ")})
            continue
        out += [{"field": f"{where}.{f}", "message": m} for f, m in _action_problems(action, settings)]
        if action.name in builtin:
            out.append({"field": f"{where}.name", "message": f"{action.name!r} is a built-in tool's name"})
        elif action.name in seen:
            out.append(
                {"field": f"{where}.name", "message": f"another action is already named {action.name!r}"}
            )
        seen.add(action.name)
    return out


def _action_problems(action: HttpAction, settings: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    p = action.parameters
    if p.get("type") != "object" or not isinstance(p.get("properties", {}), dict):
        out.append(("parameters", 'must be a JSON schema {"type": "object", "properties": {...}}'))
    for arg, schema in action.properties.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        if kind not in JSON_TYPES:
            out.append(
                (f"parameters.properties.{arg}", f"needs a type, one of {', '.join(sorted(JSON_TYPES))}")
            )
    required = p.get("required", [])
    if not isinstance(required, list) or any(r not in action.properties for r in required):
        out.append(("parameters.required", "must list names of parameters.properties"))
    authority = action.url.partition("://")[2].split("/", 1)[0]
    if "{" in authority:
        out.append(("url", "the host cannot come from an argument; use placeholders in the path or query"))
    problem = url_problem(PLACEHOLDER.sub("x", action.url), settings)
    if problem:
        out.append(("url", problem))
    used = PLACEHOLDER.findall(action.url + json.dumps(action.headers) + json.dumps(action.body))
    for arg in dict.fromkeys(used):
        if arg not in action.properties:
            out.append(("url", f"placeholder {{{arg}}} (in url, headers or body) is not a parameter"))
    # Whether ${env:NAME} references are the writer's to make is checked by config/env_policy.py.
    return out


# -- calls ----------------------------------------------------------------------------------------


def check_args(action: HttpAction, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments, checked against the action's parameters; ToolError saying what is wrong."""
    if not isinstance(args, dict):
        raise ToolError("arguments must be an object")
    unknown = set(args) - set(action.properties)
    if unknown:
        raise ToolError(f"unknown argument(s): {', '.join(sorted(unknown))}")
    for name in action.parameters.get("required", []):
        if args.get(name) in (None, ""):
            raise ToolError(f"argument {name!r} is required")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    for name, value in args.items():
        schema = action.properties[name]
        kind = schema.get("type")
        if value is not None and kind in checks and not checks[kind](value):
            raise ToolError(f"argument {name!r} must be of type {kind}")
        if "enum" in schema and value not in schema["enum"]:
            raise ToolError(f"argument {name!r} must be one of {schema['enum']}")
    return args


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def render_url(template: str, args: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda m: quote(_text(args.get(m.group(1))), safe=""), template)


def render_body(template: Any, args: dict[str, Any]) -> Any:
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            return args.get(whole.group(1))
        return PLACEHOLDER.sub(lambda m: _text(args.get(m.group(1))), template)
    if isinstance(template, dict):
        return {k: render_body(v, args) for k, v in template.items()}
    if isinstance(template, list):
        return [render_body(v, args) for v in template]
    return template


def render_headers(action: HttpAction, args: dict[str, Any], tenant_id: str) -> dict[str, str]:
    def secret(m: re.Match[str]) -> str:
        # Checked again here: stored settings may predate the rule or be written by hand.
        value = env_refs.read(m.group(1), tenant_id)
        if value is None:
            raise ToolError(f"{action.name}: a secret it needs is not configured; tell the business")
        return value

    def fill(m: re.Match[str]) -> str:
        return secret(m) if m.group(1) is not None else _text(args.get(m.group(2)))

    # One pass over the template: an argument that looks like ${env:…} stays text.
    return {header: HEADER_TOKEN.sub(fill, value) for header, value in action.headers.items()}


def select(data: Any, paths: list[str]) -> Any:
    """The values at ``paths`` (dotted; list items by index), missing ones left out."""
    if not paths:
        return data
    out: dict[str, Any] = {}
    for path in paths:
        node, found = data, True
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                found = False
                break
        if found:
            out[path] = node
    return out


async def call(ctx: ToolContext, action: HttpAction, args: dict[str, Any]) -> dict[str, Any]:
    args = check_args(action, args or {})
    headers = render_headers(action, args, ctx.tenant_id)
    content = None
    if action.body is not None:
        body = render_body(action.body, args)
        if isinstance(body, str):
            content = body.encode()
        else:
            content = json.dumps(body).encode()
            if not any(h.lower() == "content-type" for h in headers):
                headers["Content-Type"] = "application/json"
    headers.setdefault("User-Agent", "frontdesk-http-action/1")
    url = render_url(action.url, args)
    try:
        got = await fetch(
            action.method,
            url,
            allow=allow_list(ctx.deps.settings),
            headers=headers,
            content=content,
            timeout=action.timeout_s,
            max_bytes=DEFAULT_MAX_BYTES,
        )
    except BlockedDestination as exc:
        log.warning("http action blocked", tenant_id=ctx.tenant_id, action=action.name, error=exc.message)
        raise ToolError(f"{action.name}: its address is not allowed by this server") from None
    except OutboundError as exc:
        raise ToolError(f"{action.name}: {exc.message}") from None
    if not 200 <= got.status < 300:
        raise ToolError(f"{action.name}: the service answered HTTP {got.status}")
    try:
        data: Any = got.json()
    except ValueError:
        return {"status": got.status, "text": got.body.decode(errors="replace")[:TEXT_LIMIT]}
    return {"status": got.status, "data": select(data, action.response_fields)}


def as_tool(action: HttpAction) -> Tool:
    async def handler(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        return await call(ctx, action, args)

    return Tool(action.name, action.description, action.parameters, handler, timeout_s=action.timeout_s + 1)


async def tenant_tools(deps: AgentDeps, tenant_id: str) -> list[Tool]:
    """The tenant's HTTP actions as tools (definitions that no longer validate are skipped)."""
    tenant = await deps.cache.tenant(tenant_id)
    out = []
    for raw in unseal((tenant.settings if tenant else {}) or {}, deps.secrets).get("http_actions") or []:
        try:
            out.append(as_tool(HttpAction.model_validate(raw)))
        except ValidationError:
            log.warning("invalid http action skipped", tenant_id=tenant_id, action=str(raw)[:80])
    return out
