"""Mock mode (FRONTDESK_MOCK_PROVIDERS=true): everything real except that nothing goes out.

Webhooks are still verified and parsed by the real adapter (replay signs them properly); sends
are recorded in ``mock_sends`` and shown by ``GET /api/v1/mock/sends`` instead of reaching the
provider. The recorder honours idempotency keys, as providers with such keys do: a message sent
again (its first sender died before recording the outcome) is recorded once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import Connection
from starlette.responses import Response

from frontdesk.channels.base import Candidate, ChannelAdapter, MediaSource, RawRequest
from frontdesk.channels.capabilities import Capabilities
from frontdesk.model.messages import InboundEvent, OutboundMessage, SendResult
from frontdesk.model.routing import ChannelInfo
from frontdesk.store.channel_tables import mock_sends
from frontdesk.store.db import Database, utcnow


class MockSender(ChannelAdapter):
    idempotent_sends = True

    def __init__(self, real: ChannelAdapter, db: Database) -> None:
        self.real = real
        self.db = db
        self.provider = real.provider  # type: ignore[misc]  # per instance: it wraps any provider
        self.delivers_in_store = real.delivers_in_store  # type: ignore[misc]  # per instance: it wraps any provider
        self.media_domains = real.media_domains  # type: ignore[misc]  # per instance: it wraps any provider

    def capabilities(self, channel: ChannelInfo) -> Capabilities:
        return self.real.capabilities(channel)

    def handshake(self, req: RawRequest, channels: Sequence[Candidate]) -> Response | None:
        return self.real.handshake(req, channels)

    def routing_keys(self, req: RawRequest) -> list[str]:
        return self.real.routing_keys(req)

    def verify(self, req: RawRequest, channel: ChannelInfo, credentials: dict[str, Any]) -> None:
        self.real.verify(req, channel, credentials)

    def parse(self, req: RawRequest, channel: ChannelInfo) -> list[InboundEvent]:
        return self.real.parse(req, channel)

    def __getattr__(self, name: str) -> Any:  # the real adapter's own attributes (its public_url…)
        return getattr(self.real, name)

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        key = msg.idempotency_key or None
        row = {
            "tenant_id": msg.tenant_id,
            "channel_id": channel.channel_id,
            "provider": channel.provider,
            "message_id": msg.id,
            "provider_message_id": f"mock-{uuid.uuid4().hex}",
            "recipient": msg.to,
            "text": msg.text,
            "payload": msg.payload or None,
            "idempotency_key": key,
            "created_at": utcnow(),
        }

        def record(conn: Connection) -> str:
            if key is not None:
                first = conn.execute(
                    sa.select(mock_sends.c.provider_message_id).where(mock_sends.c.idempotency_key == key)
                ).scalar()
                if first is not None:
                    return first
            conn.execute(mock_sends.insert().values(**row))
            return str(row["provider_message_id"])

        return SendResult(await self.db.run_write(record), "sent")

    async def media_source(
        self,
        payload: dict[str, Any],
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> MediaSource:
        return await self.real.media_source(payload, channel, credentials, http)

    async def mark_read(
        self,
        provider_message_id: str,
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> None:
        return None
