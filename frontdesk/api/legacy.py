"""The paths of the systems Frontdesk replaces, kept so what was set up against them keeps working.

- Seed 000's configuration and routing endpoints (``/config/api/*``, ``/config/agents/add``,
  ``/route/agent/{phone}``, ``/route/stats``), same paths and shapes, on top of ConfigService. They
  answer plain JSON (lists are bare arrays, as in the seed) and, like the rest of the API, need a
  Bearer token and see only the token's tenant.
- Seed 000's message routing test (``POST /route/message``) and messaging status.
- The webhook paths providers were configured with: ``/webhook`` for Meta,
  ``/api/v1/channels/whatsapp/webhook`` for Twilio; the handlers of ``api/webhooks.py``.

``GET /health``, which seed 000 documented too, is ``api/health.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from frontdesk.api import webhooks
from frontdesk.api.config_routes import service
from frontdesk.api.deps import get_principal, get_runtime
from frontdesk.config.service import ConfigService
from frontdesk.errors import ConfigError, NotFound
from frontdesk.model.phone import normalize_e164
from frontdesk.pipeline.simulate import exchange
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store import routing

router = APIRouter()  # what the app includes: the webhook aliases below, then the two groups
seed_config = APIRouter(tags=["seed 000 compatibility"])
seed_messaging = APIRouter(tags=["compatibility"])

# -- provider webhooks at the seed systems' paths -------------------------------------------------

router.add_api_route(
    "/webhook",
    webhooks.meta_handshake,
    methods=["GET"],
    response_class=PlainTextResponse,
    include_in_schema=False,
)
router.add_api_route("/webhook", webhooks.meta_webhook, methods=["POST"], include_in_schema=False)
router.add_api_route(
    "/api/v1/channels/whatsapp/webhook", webhooks.twilio_webhook, methods=["POST"], include_in_schema=False
)

# -- seed 000: configuration and routing ----------------------------------------------------------


def no_agent(phone: str) -> NotFound:
    return NotFound(
        f"No agent found for phone number {phone}: check that an active channel has this number "
        "and that the channel has an agent mapping"
    )


@seed_config.get("/config/api/agents", summary="All agents (JSON list)")
async def agents(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> list[dict[str, Any]]:
    return await svc.list("agent", principal=p, limit=None)


@seed_config.get("/config/api/channels", summary="All channels (JSON list; credentials never shown)")
async def channels(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> list[dict[str, Any]]:
    return await svc.list("channel", principal=p, limit=None)


@seed_config.get("/config/api/phone/{phone}/agent", summary="The agent answering a phone number")
async def phone_agent(
    phone: str, p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    agent = await svc.get_agent_for_phone(phone, principal=p)
    if agent is None:
        raise no_agent(phone)
    return agent


@seed_config.get("/config/api/validation", summary="Validate the configuration")
async def validation(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    return await svc.validate(principal=p)


@seed_config.get("/config/api/stats", summary="Configuration statistics")
async def stats(
    p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
) -> dict[str, Any]:
    return await svc.stats(principal=p)


@seed_config.post(
    "/config/agents/add", status_code=201, summary="Add an agent (form, as seed 000's dashboard)"
)
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


@seed_config.get("/route/agent/{phone}", summary="Which agent a phone number routes to")
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


@seed_config.get("/route/stats", summary="Routing statistics")
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


# -- seed 000: the message routing test and the messaging status ----------------------------------


class RouteMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from", description="the customer's number, E.164")
    to: str = Field(description="the business number the message is sent to, E.164")
    message: str = Field(min_length=1, max_length=4096)
    conversation_id: str | None = Field(default=None, max_length=150)


def _phone(raw: str) -> str:
    try:
        return normalize_e164(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@seed_messaging.post("/route/message")
async def route_message(
    body: RouteMessage, principal: Principal = Depends(get_principal), rt: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    """Route a test message through the real pipeline and return the agent's replies."""
    to = _phone(body.to)
    sender = _phone(body.sender)
    channel = await rt.cache.channel_by_phone(to)
    if channel is None or not principal.can_see(channel.tenant_id):
        raise NotFound(f"No agent found for phone number {to}: no active channel has this number")
    agent = await rt.cache.agent_for_channel(channel.channel_id)
    if agent is None:
        raise NotFound(
            f"No agent found for phone number {to}: channel {channel.channel_id} has no agent mapping"
        )
    thread = f"route:{body.conversation_id or 'default'}"
    result = await exchange(rt, channel, sender, body.message, thread=thread)
    return {
        "agent_id": agent.agent_id,
        "channel_id": channel.channel_id,
        "conversation_id": result.conversation_id,
        "external_conversation_id": body.conversation_id,
        "message_id": result.message_id,
        "replies": result.replies,
        "status": "answered" if result.answered else "pending",
        "needs_human": result.needs_human,
        "needs_human_reason": result.needs_human_reason,
    }


@seed_messaging.get("/messaging-connect/status")
async def messaging_status(rt: Runtime = Depends(get_runtime)) -> dict[str, Any]:
    counts = await routing.active_channels_by_provider(rt.db)
    providers = {
        provider: {
            "active_channels": count,
            "sending": "available"
            if rt.adapters.get(provider).provider != "unsupported"
            else "not available in this version",
        }
        for provider, count in counts.items()
    }
    return {"status": "connected" if await rt.db.ping() else "disconnected", "providers": providers}


router.include_router(seed_config)
router.include_router(seed_messaging)
