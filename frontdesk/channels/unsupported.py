"""Providers without an adapter in this version: their sends fail visibly, their webhooks are 404.

A channel of such a provider can still be configured and its conversations simulated, so what is
known of the provider's channels is kept here: replies are rendered as the provider would carry them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import httpx

from frontdesk.channels.base import ChannelAdapter
from frontdesk.channels.capabilities import Capabilities, for_channel_type
from frontdesk.errors import NotFound, PermanentDelivery
from frontdesk.model.messages import OutboundMessage, SendResult
from frontdesk.model.routing import ChannelInfo

_TELEGRAM_RATE = 30.0  # Bot API: about 30 messages/s per bot across chats


class UnsupportedAdapter(ChannelAdapter):
    provider: ClassVar[str] = "unsupported"

    def __init__(self, provider: str) -> None:
        self.name = provider

    def capabilities(self, channel: ChannelInfo) -> Capabilities:
        carried = for_channel_type(channel.channel_type)
        if self.name == "telegram":
            return replace(carried, send_rate=_TELEGRAM_RATE)
        if self.name == "acs" and channel.channel_type == "whatsapp":
            # ACS carries WhatsApp buttons only inside pre-approved templates, not in free-form replies.
            return replace(carried, buttons=None)
        return carried

    def routing_keys(self, req: Any) -> list[str]:
        raise NotFound(f"provider {self.name!r} has no webhook in this version")

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        raise PermanentDelivery(f"sending through provider {self.name!r} is not available in this version")
