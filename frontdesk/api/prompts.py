"""System prompts: the rendered prompt of an agent, and the tenant's editable template.

``GET /api/v1/agents/{id}/prompt`` renders what the agent would be told now;
``GET|PUT|DELETE /api/v1/tenants/{tenant_id}/prompt-template`` read, replace or reset the template
(stored as the tenant's ``settings.prompt_template`` through the configuration service, so the
change is validated, audited and seen by the next turn).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from frontdesk.agents import prompt_admin
from frontdesk.api.config_routes import json_object
from frontdesk.api.deps import get_principal, get_runtime
from frontdesk.errors import BadRequest
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["prompts"])


@router.get("/agents/{agent_id}/prompt", summary="The agent's system prompt, rendered now")
async def agent_prompt(
    agent_id: str, principal: Principal = Depends(get_principal), rt: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    return await prompt_admin.show(rt.config, agent_id, principal)


@router.get("/tenants/{tenant_id}/prompt-template", summary="The tenant's prompt template")
async def get_template(
    tenant_id: str, principal: Principal = Depends(get_principal), rt: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    return await prompt_admin.template(rt.config, tenant_id, principal)


@router.put(
    "/tenants/{tenant_id}/prompt-template",
    summary="Replace the tenant's prompt template (Jinja2; null resets to the default)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"template": {"type": ["string", "null"]}},
                        "required": ["template"],
                    }
                }
            },
        }
    },
)
async def put_template(
    tenant_id: str,
    request: Request,
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    body = await json_object(request)
    if "template" not in body or not isinstance(body["template"], str | None):
        raise BadRequest('the body must be {"template": "<Jinja2 text>"} (or null to reset)')
    return await prompt_admin.set_template(rt.config, tenant_id, body["template"], principal)


@router.delete("/tenants/{tenant_id}/prompt-template", summary="Reset the tenant's prompt template")
async def reset_template(
    tenant_id: str, principal: Principal = Depends(get_principal), rt: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    return await prompt_admin.set_template(rt.config, tenant_id, None, principal)
