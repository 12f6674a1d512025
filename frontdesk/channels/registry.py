"""Provider name → adapter. Providers without an adapter in this version fail their sends visibly."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from frontdesk.channels.base import ChannelAdapter
from frontdesk.channels.webchat import WebchatAdapter
from frontdesk.errors import PermanentDelivery
from frontdesk.model.messages import OutboundMessage, SendResult
from frontdesk.pipeline.cache import ChannelInfo


class UnsupportedAdapter(ChannelAdapter):
    provider: ClassVar[str] = "unsupported"

    def __init__(self, provider: str) -> None:
        self.name = provider

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        raise PermanentDelivery(f"sending through provider {self.name!r} is not available in this version")


class InStoreAdapter(WebchatAdapter):
    """Used for simulated conversations (/route/message, `frontdesk chat`): the caller reads replies."""

    provider: ClassVar[str] = "simulated"


class AdapterRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, ChannelAdapter] = {"webchat": WebchatAdapter()}
        self.simulated = InStoreAdapter()

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.provider] = adapter

    def get(self, provider: str) -> ChannelAdapter:
        return self._adapters.get(provider) or UnsupportedAdapter(provider)
