"""The channel adapter contract: one adapter per provider, holding no state of its own.

An adapter answers provider handshakes, says which channel a webhook is for, verifies the
provider's proof (signature or shared secret), parses the payload into normalized events, sends
outbound messages, and says what each channel carries (``capabilities``). Every provider base
URL comes from the channel's ``settings.api_base_url`` so tests can point adapters at fake
provider servers on 127.0.0.1.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from starlette.responses import Response

from frontdesk.channels.capabilities import Capabilities, for_channel_type
from frontdesk.errors import NotFound
from frontdesk.model.messages import InboundEvent, OutboundMessage, SendResult
from frontdesk.model.routing import ChannelInfo
from frontdesk.security.ssrf import BlockedDestination

# An active channel of the provider with its credentials, as a handshake checks them.
Candidate = tuple[ChannelInfo, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class MediaSource:
    """Where a stored inbound media item can be downloaded, and with which headers (auth)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class RawRequest:
    """A webhook as received: what signature checks need is the exact body bytes and URL."""

    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)


class ChannelAdapter(ABC):
    provider: ClassVar[str]
    # Where the provider serves inbound media (these hosts and their subdomains, over https). A media
    # URL anywhere else is refused: a tenant signs its own webhooks, so a payload can name any URL.
    media_domains: ClassVar[tuple[str, ...]] = ()
    # True when the store itself is the delivery medium (web chat streams read it): outbound rows
    # are written as sent and no provider call is made.
    delivers_in_store: ClassVar[bool] = False
    # True when ``send`` passes ``msg.idempotency_key`` to a provider that keeps one message per key:
    # a send whose outcome was lost (its sender died) is then simply sent again. Otherwise it is sent
    # again at most once, flagged ``possible_duplicate``.
    idempotent_sends: ClassVar[bool] = False
    # The media types the provider posts its webhooks as; the webhooks API refuses others (415)
    # before reading the body, so a signed body is never read in another format than it was sent.
    webhook_content_types: ClassVar[tuple[str, ...]] = ()
    # Headers carrying the provider's proof: a webhook with two different values of one is refused.
    signature_headers: ClassVar[tuple[str, ...]] = ()

    def capabilities(self, channel: ChannelInfo) -> Capabilities:
        """What ``channel`` carries through this provider: limits, buttons, markup, send rate, segments."""
        return for_channel_type(channel.channel_type)

    def handshake(self, req: RawRequest, channels: Sequence[Candidate]) -> Response | None:
        """Answer a provider's subscription check (GET challenge, Event Grid validation), if this is one.

        ``channels`` are the provider's active channels, each with its credentials (verify tokens
        are credentials, which ChannelInfo does not carry).
        """
        return None

    def routing_keys(self, req: RawRequest) -> list[str]:
        """The routing keys (channel identities) this webhook is addressed to."""
        raise NotImplementedError

    def verify(self, req: RawRequest, channel: ChannelInfo, credentials: dict[str, Any]) -> None:
        """Raise InvalidSignature unless the request provably comes from the provider."""
        raise NotImplementedError

    def parse(self, req: RawRequest, channel: ChannelInfo) -> list[InboundEvent]:
        """Normalized messages and status updates carried by the webhook."""
        raise NotImplementedError

    @abstractmethod
    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        """Deliver one message; raise RetryableDelivery or PermanentDelivery on failure."""

    async def media_source(
        self,
        payload: dict[str, Any],
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> MediaSource:
        """Resolve the download of a stored inbound message's media (``payload`` as parse() stored it)."""
        raise NotFound("this channel's messages carry no downloadable media")

    async def mark_read(
        self,
        provider_message_id: str,
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> None:
        """Tell the provider the customer's message was read, where the provider has such a thing."""
        return None


def media_origin(url: str, adapter: ChannelAdapter, channel: ChannelInfo) -> str:
    """Who serves ``url``: "operator" (the channel's configured ``api_base_url``) or "provider".

    Raises BlockedDestination for any other URL. The operator's base URL is trusted as it is
    (``config.operator_only`` keeps tenants from setting it); a provider's URL is still fetched
    through the outbound guard, and so is every redirect it leads to.
    """
    own = channel.settings.get("api_base_url")
    if own and origin(url) == origin(str(own)):
        return "operator"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and any(host == d or host.endswith("." + d) for d in adapter.media_domains):
        return "provider"
    raise BlockedDestination(
        f"{adapter.provider} does not serve media from {host or 'this URL'}; it was not downloaded"
    )


def origin(url: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of ``url``, the port filled in for http(s); empty for a broken URL."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        return "", None, None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """A provider's JSON answer as an object; {} when it is not JSON or not an object."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
