"""A provider webhook from raw request to stored events: route, verify, parse, ingest.

Every channel the webhook is addressed to must verify before anything of it is stored (fail
closed), and the webhook is acknowledged only once all of its events are committed (ack after
durable write): a crash in between makes the provider deliver it again, and deduplication makes
that harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from frontdesk.channels.base import ChannelAdapter, RawRequest
from frontdesk.errors import NotFound
from frontdesk.model.messages import InboundMessage, StatusUpdate, UnattributedMessage
from frontdesk.pipeline.cache import ChannelInfo

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Receipt:
    """What one webhook did: for the response body, the replay tool and the logs."""

    channels: list[str] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    duplicates: int = 0
    statuses: int = 0
    unattributed: int = 0  # messages naming no sender, kept apart (ingest.unattributed)
    unknown_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "channels": self.channels,
            "stored": len(self.stored),
            "message_ids": self.stored,
            "conversation_ids": self.conversations,
            "duplicates": self.duplicates,
            "statuses": self.statuses,
            "unattributed": self.unattributed,
        }


async def route(rt, adapter: ChannelAdapter, raw: RawRequest) -> tuple[list[ChannelInfo], list[str]]:  # type: ignore[no-untyped-def]
    """The active channels a webhook is addressed to, and the routing keys no channel has."""
    found: list[ChannelInfo] = []
    unknown: list[str] = []
    for key in adapter.routing_keys(raw):
        channel = await rt.cache.channel_by_routing_key(adapter.provider, key)
        if channel is None:
            unknown.append(key)
        else:
            found.append(channel)
    if not found:
        keys = ", ".join(unknown) or "none"
        raise NotFound(
            f"no active {adapter.provider} channel has the routing key this webhook is for ({keys})"
        )
    return found, unknown


async def receive(rt, adapter: ChannelAdapter, raw: RawRequest) -> Receipt:  # type: ignore[no-untyped-def]
    channels, unknown = await route(rt, adapter, raw)
    for channel in channels:
        adapter.verify(raw, channel, rt.cache.credentials(channel))
    receipt = Receipt(channels=[c.channel_id for c in channels], unknown_keys=unknown)
    if unknown:
        log.warning("webhook names unknown channels", provider=adapter.provider, routing_keys=unknown)
    for channel in channels:
        for event in adapter.parse(raw, channel):
            if isinstance(event, InboundMessage):
                result = await rt.ingest.message(channel, event)
                if result.duplicate:
                    receipt.duplicates += 1
                else:
                    receipt.stored.append(result.message_id)
                    if result.conversation_id not in receipt.conversations:
                        receipt.conversations.append(result.conversation_id)
            elif isinstance(event, StatusUpdate) and await rt.ingest.status(channel, event):
                receipt.statuses += 1
            elif isinstance(event, UnattributedMessage):
                if await rt.ingest.unattributed(channel, event):
                    receipt.unattributed += 1
                else:
                    receipt.duplicates += 1
        await rt.channel_health.inbound(channel)
    return receipt
