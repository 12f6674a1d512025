"""Prompt administration shared by the REST API and the CLI, on top of the configuration service.

The template is the tenant's ``settings.prompt_template``: writing it through ``ConfigService`` gets
the tenant scoping, the audit log and the cache invalidation every other change gets, so the next
turn renders with it.
"""

from __future__ import annotations

from typing import Any

from frontdesk.agents.prompts import check_template, render_system_prompt, template_of
from frontdesk.config.service import ConfigService
from frontdesk.model.routing import AgentInfo, TenantInfo
from frontdesk.security.tokens import SYSTEM, Principal


def tenant_info(tenant: dict[str, Any]) -> TenantInfo:
    return TenantInfo(
        tenant_id=tenant["tenant_id"],
        name=tenant.get("name") or tenant["tenant_id"],
        timezone=tenant.get("timezone") or "UTC",
        business_profile=tenant.get("business_profile") or {},
        settings=tenant.get("settings") or {},
        revision=0,
    )


def agent_info(agent: dict[str, Any]) -> AgentInfo:
    return AgentInfo(
        agent_id=agent["agent_id"],
        tenant_id=agent["tenant_id"],
        agent_name=agent["agent_name"],
        kind=agent["kind"],
        status=agent["status"],
        config=agent.get("config") or {},
        description=agent.get("description") or "",
    )


async def show(svc: ConfigService, agent_id: str, principal: Principal) -> dict[str, Any]:
    """``{"agent_id", "prompt", "template_source"}``: the agent's system prompt as of now."""
    agent = await svc.get("agent", agent_id, principal=principal)
    # Whoever sees the agent sees its tenant.
    tenant = await svc.get("tenant", agent["tenant_id"], principal=SYSTEM)
    prompt = render_system_prompt(tenant_info(tenant), agent_info(agent))
    return {"agent_id": agent_id, "prompt": prompt.text, "template_source": prompt.source}


async def template(svc: ConfigService, tenant_id: str, principal: Principal) -> dict[str, Any]:
    """``{"tenant_id", "template", "source"}``: the template in use ("tenant" or "default")."""
    tenant = await svc.get("tenant", tenant_id, principal=principal)
    text, source = template_of(tenant_info(tenant))
    return {"tenant_id": tenant_id, "template": text, "source": source}


async def set_template(
    svc: ConfigService, tenant_id: str, text: str | None, principal: Principal, actor: str | None = None
) -> dict[str, Any]:
    """Store ``text`` as the tenant's template after rendering it once; None (or blank) resets it."""
    tenant = await svc.get("tenant", tenant_id, principal=principal)
    if text is not None and not text.strip():
        text = None
    if text is not None:
        check_template(text, tenant_info(tenant))
    await svc.update(
        "tenant", tenant_id, {"settings": {"prompt_template": text}}, principal=principal, actor=actor
    )
    return await template(svc, tenant_id, principal)
