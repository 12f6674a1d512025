"""Ingest: store an inbound message exactly once and queue its turn, in ONE transaction.

The caller answers the provider only after this returns (ack after durable write). Redelivered
messages hit the unique (channel, provider message id) index and change nothing (``store.inbound``
holds the SQL). Text from outside is made storable first (``model.text``: NUL and lone surrogates
become U+FFFD), on every path in. Nothing a verified webhook carries is dropped: a message that
could not be read is stored as kind "unsupported" with its reason, one that names no sender in
``unattributed_messages``; both are counted in the channel's health and logged once, as they are
stored. Who the sender is (contacts, identities) is ``store.contacts``' concern.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from frontdesk.model.messages import InboundMessage, StatusUpdate, UnattributedMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.model.text import storable, storable_json
from frontdesk.pipeline.notify import Notifier, visitor_topic
from frontdesk.pipeline.queue.base import JobQueue
from frontdesk.store.contacts import DISPLAY_NAME_LENGTH
from frontdesk.store.inbound import Inbound, Ingested

log = structlog.get_logger(__name__)


class Ingest:
    def __init__(self, inbound: Inbound, queue: JobQueue, notifier: Notifier) -> None:
        self.inbound = inbound
        self.queue = queue
        self.notifier = notifier

    async def message(
        self, channel: ChannelInfo, msg: InboundMessage, *, simulated: bool = False
    ) -> Ingested:
        msg = storable_message(msg)
        if msg.identity_change is not None:
            return await self.inbound.identity_notice(channel, msg, self.queue.enqueue)
        result, new = await self.inbound.message(channel, msg, self.queue.enqueue, simulated=simulated)
        if not result.duplicate:
            self.queue.wake()
            if msg.kind == "unsupported":
                log.warning(
                    "inbound message stored as unsupported",
                    channel_id=channel.channel_id,
                    message_id=result.message_id,
                    provider_message_id=msg.provider_message_id,
                    reason=msg.reason,
                )
        if new and channel.provider == "webchat":
            # A web chat stream opened before its visitor's first message waits for the
            # conversation to exist. A new conversation is never in the cache, so this fires for
            # each (and, rarely, again after the cache forgot one: a harmless extra wake-up).
            self.notifier.publish(visitor_topic(channel.channel_id, msg.sender))
        return result

    async def unattributed(self, channel: ChannelInfo, event: UnattributedMessage) -> bool:
        """Keep a message that names no sender, raw, with its reason; False if it was kept before."""
        new = await self.inbound.unattributed(
            channel, storable(event.provider_message_id), storable(event.reason), storable_json(event.raw)
        )
        if new:
            log.warning(
                "inbound message stored as unattributed",
                channel_id=channel.channel_id,
                provider_message_id=event.provider_message_id,
                reason=event.reason,
            )
        return new

    async def status(self, channel: ChannelInfo, update: StatusUpdate) -> bool:
        """Record a delivery status; never move backwards (a late "delivered" keeps "read")."""
        return await self.inbound.status(channel, storable_status(update))


def storable_message(msg: InboundMessage) -> InboundMessage:
    """``msg`` with every text field and its payload made storable (unchanged when already so)."""
    return replace(
        msg,
        provider_message_id=storable(msg.provider_message_id),
        sender=storable(msg.sender),
        text=storable(msg.text),
        # Shown only: a name too long for the column is cut, not refused.
        sender_name=None if msg.sender_name is None else storable(msg.sender_name)[:DISPLAY_NAME_LENGTH],
        payload=storable_json(msg.payload),
        reply_to=None if msg.reply_to is None else storable(msg.reply_to),
        thread=storable(msg.thread),
        bsuid=None if msg.bsuid is None else storable(msg.bsuid),
        username=None if msg.username is None else storable(msg.username),
    )


def storable_status(update: StatusUpdate) -> StatusUpdate:
    return replace(
        update,
        provider_message_id=storable(update.provider_message_id),
        error_code=None if update.error_code is None else storable(update.error_code),
        error_title=None if update.error_title is None else storable(update.error_title),
    )
