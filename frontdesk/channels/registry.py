"""Provider name → adapter. Providers without an adapter in this version (``channels.unsupported``)
fail their sends visibly."""

from __future__ import annotations

from typing import ClassVar

from frontdesk.channels.base import ChannelAdapter
from frontdesk.channels.meta import MetaAdapter
from frontdesk.channels.mock import MockSender
from frontdesk.channels.twilio import TwilioAdapter
from frontdesk.channels.unsupported import UnsupportedAdapter
from frontdesk.channels.voice import VoiceAdapter
from frontdesk.channels.webchat import WebchatAdapter
from frontdesk.errors import NotFound
from frontdesk.store.db import Database


class InStoreAdapter(WebchatAdapter):
    """Used for simulated conversations (/route/message, `frontdesk chat`): the caller reads replies."""

    provider: ClassVar[str] = "simulated"


class AdapterRegistry:
    def __init__(self, db: Database | None = None, *, public_url: str = "", mock: bool = False) -> None:
        adapters: list[ChannelAdapter] = [MetaAdapter(), TwilioAdapter(public_url.rstrip("/"))]
        if mock and db is not None:
            adapters = [MockSender(a, db) for a in adapters]
        self._adapters: dict[str, ChannelAdapter] = {"webchat": WebchatAdapter()}
        for adapter in adapters:
            self._adapters[adapter.provider] = adapter
        self.simulated = InStoreAdapter()

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.provider] = adapter

    def get(self, provider: str) -> ChannelAdapter:
        return self._adapters.get(provider) or UnsupportedAdapter(provider)

    def voice(self, provider: str) -> VoiceAdapter:
        """The adapter answering ``provider``'s calls; in mock mode the real one (a call sends nothing)."""
        adapter = self.get(provider)
        real = adapter.real if isinstance(adapter, MockSender) else adapter
        if not isinstance(real, VoiceAdapter):
            raise NotFound(f"provider {provider!r} carries no calls in this version")
        return real

    def available(self, provider: str) -> bool:
        return provider in self._adapters
