"""Frontdesk's own web chat: visitors hold a signed session token; replies are read from the store.

A session token is ``<visitor id>.<HMAC of channel id and visitor id>``: stateless to verify, and a
token for one channel is worthless on another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any, ClassVar

import httpx

from frontdesk.channels.base import ChannelAdapter
from frontdesk.errors import AuthError
from frontdesk.model.messages import OutboundMessage, SendResult
from frontdesk.model.routing import ChannelInfo


class WebchatAdapter(ChannelAdapter):
    provider: ClassVar[str] = "webchat"
    delivers_in_store: ClassVar[bool] = True

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        return SendResult(provider_message_id=str(msg.id))


class SessionSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, channel_id: str, visitor: str) -> str:
        digest = hmac.new(self._key, f"webchat:{channel_id}:{visitor}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def new_session(self, channel_id: str) -> tuple[str, str]:
        visitor = "v_" + secrets.token_hex(10)
        return visitor, f"{visitor}.{self._mac(channel_id, visitor)}"

    def visitor(self, channel_id: str, token: str) -> str:
        token = token or ""
        visitor, _, mac = token.partition(".")
        # Tokens we issue are ASCII; compare_digest cannot compare other text (nor encode surrogates).
        valid = (
            token.isascii() and visitor and mac and hmac.compare_digest(mac, self._mac(channel_id, visitor))
        )
        if not valid:
            raise AuthError("invalid web chat session: start one with POST /webchat/{channel_id}/sessions")
        return visitor
