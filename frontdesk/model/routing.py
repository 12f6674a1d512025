"""What routing knows about a channel, its tenant and its agent: the values every layer passes around.

They are read from configuration rows by ``pipeline.cache`` and handed to adapters, agents and the
pipeline; keeping them here (the bottom layer) lets all of those depend on them without depending
on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    channel_id: str
    tenant_id: str
    channel_type: str
    provider: str
    routing_key: str
    phone_number: str | None
    active: bool
    settings: dict[str, Any]
    credentials_token: str = field(repr=False, default="")


@dataclass(frozen=True, slots=True)
class TenantInfo:
    tenant_id: str
    name: str
    timezone: str
    business_profile: dict[str, Any]
    settings: dict[str, Any]
    revision: int


@dataclass(frozen=True, slots=True)
class AgentInfo:
    agent_id: str
    tenant_id: str
    agent_name: str
    kind: str
    status: str
    config: dict[str, Any]
    description: str = ""


class TenantLookup(Protocol):
    """Tenants by id, cached briefly (``pipeline.cache.RoutingCache`` is one): what agents and the
    calendar read on every turn."""

    async def tenant(self, tenant_id: str) -> TenantInfo | None: ...


def channel_info(row: Any) -> ChannelInfo:
    return ChannelInfo(
        channel_id=row.channel_id,
        tenant_id=row.tenant_id,
        channel_type=row.channel_type,
        provider=row.provider,
        routing_key=row.routing_key,
        phone_number=row.phone_number,
        active=row.active,
        settings=row.settings or {},
        credentials_token=row.credentials or "",
    )


def agent_info(row: Any) -> AgentInfo:
    """The hot path's view of an ``agents`` row."""
    return AgentInfo(
        agent_id=row.agent_id,
        tenant_id=row.tenant_id,
        agent_name=row.agent_name,
        kind=row.kind,
        status=row.status,
        config=row.config or {},
        description=row.description or "",
    )
