"""Seed 000's configuration and routing endpoints, same paths and shapes, on top of ConfigService.

``/config/api/*`` and ``/route/*`` answer plain JSON (lists are bare arrays, as in the seed) and,
like the rest of the API, need a Bearer token and see only the token's tenant.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import JSONResponse

from frontdesk.api.config_routes import service
from frontdesk.api.deps import get_principal
from frontdesk.config.service import ConfigService
from frontdesk.errors import NotFound
from frontdesk.security.tokens import Principal

router = APIRouter(tags=["seed 000 compatibility"])


def no_agent(phone: str) -> NotFound:
    return NotFound(
        f"No agent found for phone number {phone}: check that an active channel has this number "
        "and that the channel has an agent mapping"
    )


@router.get("/config/api/agents", summary="All agents (JSON list)")
async def agents(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> list[dict[str, Any]]:
    return await svc.list("agent", principal=p, limit=None)


@router.get("/config/api/channels", summary="All channels (JSON list; credentials never shown)")
async def channels(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> list[dict[str, Any]]:
    return await svc.list("channel", principal=p, limit=None)


@router.get("/config/api/phone/{phone}/agent", summary="The agent answering a phone number")
async def phone_agent(
    phone: str, p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    agent = await svc.get_agent_for_phone(phone, principal=p)
    if agent is None:
        raise no_agent(phone)
    return agent


@router.get("/config/api/validation", summary="Validate the configuration")
async def validation(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    return await svc.validate(principal=p)


@router.get("/config/api/stats", summary="Configuration statistics")
async def stats(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    return await svc.stats(principal=p)


@router.post("/config/agents/add", status_code=201, summary="Add an agent (form, as seed 000's dashboard)")
async def add_agent(
    agent_id: str = Form(...),
    agent_name: str = Form(...),
    foundry_endpoint: str | None = Form(None),
    description: str = Form(""),
    tenant_id: str | None = Form(None),
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> JSONResponse:
    data: dict[str, Any] = {"agent_id": agent_id, "agent_name": agent_name, "description": description}
    if tenant_id:
        data["tenant_id"] = tenant_id
    if foundry_endpoint:
        # Seed 000's agents are Azure AI Foundry assistants: remote agents, so the asst_ rule applies.
        data.update(kind="remote", foundry_endpoint=foundry_endpoint)
    return JSONResponse(await svc.create("agent", data, principal=p), status_code=201)


@router.get("/route/agent/{phone}", summary="Which agent a phone number routes to")
async def route_agent(
    phone: str, p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    route = await svc.route_for_phone(phone, principal=p)
    if route is None:
        raise no_agent(phone)
    return {
        "phone_number": route["channel"]["phone_number"],
        "agent_id": route["agent"]["agent_id"],
        "agent_name": route["agent"]["agent_name"],
        "channel_id": route["channel"]["channel_id"],
    }


@router.get("/route/stats", summary="Routing statistics")
async def route_stats(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    figures = await svc.stats(principal=p)
    report = await svc.validate(principal=p)
    return {
        "total_active_routes": figures["routes"]["total_active"],
        "routes_by_channel_type": figures["routes"]["by_channel_type"],
        "routes_by_agent": figures["routes"]["by_agent"],
        "validation": {
            "valid": report["valid"],
            "errors": len(report["errors"]),
            "warnings": len(report["warnings"]),
        },
    }
