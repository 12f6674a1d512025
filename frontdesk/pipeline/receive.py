"""A provider webhook from raw request to stored events: route, verify, parse, ingest.

Every channel the webhook is addressed to must verify before anything of it is stored (fail
closed), and the webhook is acknowledged only once all of its events are committed (ack after
durable write): a crash in between makes the provider deliver it again, and deduplication makes
that harmless.

A verified webhook is not all-or-nothing: each event is stored in its own transaction, and an
event the store cannot take (``admission.refusal``, or a value the database refuses) is refused
alone: logged, listed in the answer's ``refused`` with its reason, and the webhook still answered
200, so the provider does not redeliver the batch for days. ``_refuse`` is the one place a refused
event goes. A failure of the database itself (unreachable, timed out) is no refusal: it answers
5xx and the provider retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import DataError

from frontdesk.channels.base import ChannelAdapter, RawRequest
from frontdesk.errors import NotFound
from frontdesk.model.messages import InboundEvent, InboundMessage, StatusUpdate, UnattributedMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.admission import refusal
from frontdesk.pipeline.deps import ReceiveDeps
from frontdesk.pipeline.ingest import Ingested
from frontdesk.store.db import utcnow

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
    refused: list[dict[str, str]] = field(default_factory=list)  # {"provider_message_id", "reason"}
    # Every message stored or found already stored, for a caller answering it at once (a call).
    ingested: list[Ingested] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "stored": len(self.stored),
            "message_ids": self.stored,
            "conversation_ids": self.conversations,
            "duplicates": self.duplicates,
            "statuses": self.statuses,
            "unattributed": self.unattributed,
            "refused": self.refused,
        }


async def route(
    deps: ReceiveDeps, adapter: ChannelAdapter, raw: RawRequest
) -> tuple[list[ChannelInfo], list[str]]:
    """The active channels a webhook is addressed to, and the routing keys no channel has."""
    found: list[ChannelInfo] = []
    unknown: list[str] = []
    for key in adapter.routing_keys(raw):
        channel = await deps.cache.channel_by_routing_key(adapter.provider, key)
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


async def verified(
    deps: ReceiveDeps, adapter: ChannelAdapter, raw: RawRequest
) -> tuple[list[ChannelInfo], list[str]]:
    """``route``, once every channel found has verified the webhook (fail closed)."""
    channels, unknown = await route(deps, adapter, raw)
    for channel in channels:
        adapter.verify(raw, channel, deps.cache.credentials(channel))
    return channels, unknown


async def receive(deps: ReceiveDeps, adapter: ChannelAdapter, raw: RawRequest) -> Receipt:
    channels, unknown = await verified(deps, adapter, raw)
    receipt = Receipt(channels=[c.channel_id for c in channels], unknown_keys=unknown)
    if unknown:
        log.warning("webhook names unknown channels", provider=adapter.provider, routing_keys=unknown)
    for channel in channels:
        await store(deps, channel, adapter.parse(raw, channel), receipt)
    return receipt


async def store(
    deps: ReceiveDeps, channel: ChannelInfo, events: Iterable[InboundEvent], receipt: Receipt
) -> None:
    """Store the events a verified webhook carries for ``channel``, each on its own (see above)."""
    now = utcnow()
    days = deps.settings.webhook_max_age_days
    max_age = timedelta(days=days) if days else None
    for event in events:
        reason = refusal(event, now, max_age)
        if reason is None:
            try:
                await _ingest(deps, channel, event, receipt)
            except DataError as exc:  # this event's values, not the database, are the problem
                reason = "the database refused a value: " + str(exc.orig).strip().split("\n")[0]
        if reason is not None:
            await _refuse(deps, channel, event, reason, receipt)
    await deps.channel_health.inbound(channel)


async def _ingest(deps: ReceiveDeps, channel: ChannelInfo, event: InboundEvent, receipt: Receipt) -> None:
    if isinstance(event, InboundMessage):
        result = await deps.ingest.message(channel, event)
        receipt.ingested.append(result)
        if result.duplicate:
            receipt.duplicates += 1
        else:
            receipt.stored.append(result.message_id)
            if result.conversation_id not in receipt.conversations:
                receipt.conversations.append(result.conversation_id)
    elif isinstance(event, StatusUpdate) and await deps.ingest.status(channel, event):
        receipt.statuses += 1
    elif isinstance(event, UnattributedMessage):
        if await deps.ingest.unattributed(channel, event):
            receipt.unattributed += 1
        else:
            receipt.duplicates += 1


async def _refuse(
    deps: ReceiveDeps, channel: ChannelInfo, event: InboundEvent, reason: str, receipt: Receipt
) -> None:
    """A verified event that is not stored as such: said in the answer and the log, never fatal to
    the rest. A refused message is still kept raw, apart, with the reason (never acknowledged and
    dropped), and never reaches the agent."""
    provider_id = event.provider_message_id[:200]
    if isinstance(event, InboundMessage):
        kept = UnattributedMessage(provider_id, f"refused: {reason}", _raw(event))
        try:
            await deps.ingest.unattributed(channel, kept)
        except DataError:
            log.warning("refused webhook event could not be kept either", channel_id=channel.channel_id)
    log.warning(
        "webhook event refused",
        channel_id=channel.channel_id,
        provider_message_id=provider_id,
        kind=type(event).__name__,
        reason=reason,
    )
    receipt.refused.append({"provider_message_id": provider_id, "reason": reason})


def _raw(msg: InboundMessage) -> dict[str, Any]:
    return {
        "sender": msg.sender,
        "kind": msg.kind,
        "text": msg.text,
        "timestamp": msg.timestamp.isoformat() if msg.timestamp else None,
        "payload": msg.payload,
    }
