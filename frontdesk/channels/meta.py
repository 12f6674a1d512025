"""Meta's Graph API channels: WhatsApp Cloud API, Messenger and Instagram (provider "meta").

One Meta app signs every webhook of its WhatsApp numbers, pages and Instagram accounts with its app
secret (``X-Hub-Signature-256``) and answers sends on ``/{version}/{routing key}/messages``; the
channel's ``channel_type`` says which message dialect to speak. This module holds the adapter and
its Graph API calls; webhook parsing lives in ``meta_parse``, the send bodies in ``meta_send``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx
from starlette.responses import PlainTextResponse, Response

from frontdesk.channels import meta_parse
from frontdesk.channels.base import Candidate, ChannelAdapter, MediaSource, RawRequest, json_object
from frontdesk.channels.capabilities import Capabilities, for_channel_type
from frontdesk.channels.meta_json import as_dict, as_list, as_str
from frontdesk.channels.meta_send import messenger_body, whatsapp_body
from frontdesk.errors import DeliveryError, InvalidSignature, NotFound, PermanentDelivery, RetryableDelivery
from frontdesk.model.http import retry_after
from frontdesk.model.messages import InboundEvent, OutboundMessage, SendResult
from frontdesk.model.routing import ChannelInfo

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v21.0"
SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
# Rate limits, throttling and Meta's own temporary failures (codes 1 and 2 are "try again later").
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131016, 131048, 131056})
AUTH_CODES = frozenset({102, 190})
MESSAGING_TYPES = ("messenger", "instagram")
# WhatsApp Cloud API: 80 messages/s per business number by default (Messenger and Instagram alike).
SEND_RATE = 80.0
META_DOMAINS = ("fbsbx.com", "facebook.com", "fbcdn.net", "whatsapp.net", "whatsapp.com")

_CARRIED = {t: replace(for_channel_type(t), send_rate=SEND_RATE) for t in ("whatsapp", *MESSAGING_TYPES)}


class MetaAdapter(ChannelAdapter):
    provider: ClassVar[str] = "meta"
    media_domains: ClassVar[tuple[str, ...]] = META_DOMAINS
    # The Graph API's send endpoints take no idempotency key (none in Meta's Cloud API reference).
    idempotent_sends: ClassVar[bool] = False
    # Meta posts every webhook as JSON (Graph API webhooks: "Content-Type: application/json").
    webhook_content_types: ClassVar[tuple[str, ...]] = ("application/json",)
    signature_headers: ClassVar[tuple[str, ...]] = ("x-hub-signature-256",)

    def capabilities(self, channel: ChannelInfo) -> Capabilities:
        return _CARRIED.get(channel.channel_type) or replace(
            for_channel_type(channel.channel_type), send_rate=SEND_RATE
        )

    def handshake(self, req: RawRequest, channels: Sequence[Candidate]) -> Response | None:
        """Answer Meta's subscription check: echo ``hub.challenge`` when the verify token is a channel's."""
        if req.method.upper() != "GET":
            return None
        mode, token, challenge = (_query(req, name) for name in ("mode", "verify_token", "challenge"))
        if (
            mode == "subscribe"
            and token
            and challenge
            and any(_token_matches(token, info, credentials) for info, credentials in channels)
        ):
            return PlainTextResponse(challenge)
        return PlainTextResponse(
            "Meta webhook verification failed: hub.mode must be 'subscribe' and hub.verify_token the "
            "verify_token of an active Meta channel",
            status_code=403,
        )

    def routing_keys(self, req: RawRequest) -> list[str]:
        return meta_parse.routing_keys(req.body)

    def verify(self, req: RawRequest, channel: ChannelInfo, credentials: dict[str, Any]) -> None:
        secret = credentials.get("app_secret")
        if not isinstance(secret, str) or not secret:
            raise InvalidSignature(
                f"channel {channel.channel_id!r} has no app_secret, so its Meta webhooks cannot be verified"
            )
        header = _header(req.headers, "x-hub-signature-256")
        if header is None:
            raise InvalidSignature("Meta webhook without an X-Hub-Signature-256 header")
        match = SIGNATURE.fullmatch(header.strip())
        if match is None:
            raise InvalidSignature("X-Hub-Signature-256 must be 'sha256=' followed by 64 hex digits")
        expected = hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match.group(1).lower()):
            raise InvalidSignature("X-Hub-Signature-256 does not match the body signed with the app secret")

    def parse(self, req: RawRequest, channel: ChannelInfo) -> list[InboundEvent]:
        return meta_parse.parse_events(req.body, channel.routing_key)

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        if channel.channel_type == "whatsapp":
            body = whatsapp_body(msg, channel)
        elif channel.channel_type in MESSAGING_TYPES:
            body = messenger_body(msg)
        else:
            raise PermanentDelivery(
                f"Meta channel type {channel.channel_type!r} is not one of whatsapp, messenger, instagram"
            )
        data = _checked(await _request(http, "POST", _messages_url(channel), credentials, body))
        return SendResult(_sent_id(data), "sent")

    async def mark_read(
        self,
        provider_message_id: str,
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> None:
        if channel.channel_type != "whatsapp":
            return None  # Messenger's "mark_seen" is per conversation, not per message
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": provider_message_id}
        _checked(await _request(http, "POST", _messages_url(channel), credentials, body))
        return None

    async def media_source(
        self,
        payload: dict[str, Any],
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> MediaSource:
        media = payload.get("media") if isinstance(payload, dict) else None
        if not isinstance(media, dict):
            raise NotFound("this message carries no media")
        url = as_str(media.get("url"))
        if url and channel.channel_type != "whatsapp":  # Messenger / Instagram CDN links are signed
            return MediaSource(url, {}, media.get("mime_type"))
        if url and _meta_host(url, channel):  # WhatsApp's lookaside links want the token
            return MediaSource(url, _auth(credentials), media.get("mime_type"))
        media_id = as_str(media.get("id"))
        if media_id is None:
            raise NotFound("this message's media has neither a url nor a media id")
        lookup = f"{_graph_root(channel)}/{quote(media_id, safe='')}"
        response = await _request(http, "GET", lookup, credentials)
        if _is_missing(response):
            raise NotFound(f"media {media_id} is gone from Meta (WhatsApp keeps media for 30 days)")
        data = _checked(response)
        if not isinstance(data.get("url"), str):
            raise RetryableDelivery(f"the Graph API gave no download url for media {media_id}")
        return MediaSource(data["url"], _auth(credentials), data.get("mime_type") or media.get("mime_type"))


# --- requests and their errors ------------------------------------------------------------------


def _query(req: RawRequest, name: str) -> str | None:
    # PHP-style proxies turn "hub.mode" into "hub_mode" on the way.
    return req.query.get(f"hub.{name}") or req.query.get(f"hub_{name}")


def _token_matches(token: str, channel: ChannelInfo, credentials: dict[str, Any]) -> bool:
    expected = credentials.get("verify_token") if isinstance(credentials, dict) else None
    if not channel.active or channel.provider != MetaAdapter.provider or not isinstance(expected, str):
        return False
    return bool(expected) and hmac.compare_digest(expected.encode(), token.encode())


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


def _meta_host(url: str, channel: ChannelInfo) -> bool:
    """Whether the access token may go to ``url``: never to a host a forged payload could name."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and any(host == d or host.endswith("." + d) for d in META_DOMAINS):
        return True
    own = urlsplit(_graph_root(channel))
    return (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


def _graph_root(channel: ChannelInfo) -> str:
    base = str(channel.settings.get("api_base_url") or DEFAULT_BASE_URL).rstrip("/")
    version = str(channel.settings.get("api_version") or DEFAULT_VERSION).strip("/")
    return f"{base}/{version}"


def _messages_url(channel: ChannelInfo) -> str:
    return f"{_graph_root(channel)}/{quote(channel.routing_key, safe='')}/messages"


def _auth(credentials: dict[str, Any]) -> dict[str, str]:
    token = credentials.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentDelivery("the Meta channel has no access_token", needs_attention=True)
    return {"Authorization": f"Bearer {token}"}


async def _request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    credentials: dict[str, Any],
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    headers = _auth(credentials)
    try:
        return await http.request(method, url, json=body, headers=headers)
    except (
        httpx.InvalidURL,
        httpx.UnsupportedProtocol,
    ) as exc:  # a configuration mistake: retrying won't help
        raise PermanentDelivery(
            f"the channel's api_base_url gives an unusable URL {url!r}: {exc}", needs_attention=True
        ) from exc
    except httpx.TransportError as exc:  # connection refused, reset, timeouts: the send may be retried
        raise RetryableDelivery(f"Graph API unreachable: {type(exc).__name__}: {exc}") from exc


def _checked(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        return json_object(response)
    raise classify(response)


def _is_missing(response: httpx.Response) -> bool:
    # Graph answers a lookup of an unknown object with code 100 / subcode 33 as often as with 404.
    error = as_dict(json_object(response).get("error"))
    return response.status_code == 404 or (error.get("code") == 100 and error.get("error_subcode") == 33)


def classify(response: httpx.Response) -> DeliveryError:
    """The delivery error a failed Graph API call stands for: retry, give up, or call a person."""
    error = as_dict(json_object(response).get("error"))
    code = error.get("code") if isinstance(error.get("code"), int) else None
    provider_code = str(code) if code is not None else None
    status = response.status_code
    message = _describe(response, error)
    oauth = error.get("type") == "OAuthException"
    if code in AUTH_CODES or status == 401 or (status == 403 and oauth):
        return PermanentDelivery(
            f"Meta refused the channel's access token: {message}",
            provider_code=provider_code,
            needs_attention=True,
        )
    if code in RETRYABLE_CODES or status >= 500 or status == 429 or error.get("is_transient") is True:
        return RetryableDelivery(message, provider_code=provider_code, retry_after=retry_after(response))
    return PermanentDelivery(message, provider_code=provider_code)


def _describe(response: httpx.Response, error: dict[str, Any]) -> str:
    text = error.get("message") or error.get("error_user_msg")
    if not isinstance(text, str) or not text:
        # Not Graph's error JSON: the status alone (a raw body is no reason to show anyone).
        text = response.reason_phrase or "error"
    details = as_dict(error.get("error_data")).get("details")
    suffix = f" ({details})" if isinstance(details, str) and details else ""
    return f"Graph API HTTP {response.status_code}: {text}{suffix}"


def _sent_id(data: dict[str, Any]) -> str | None:
    if "message_id" in data:  # Messenger / Instagram
        return as_str(data["message_id"])
    messages = as_list(data.get("messages"))
    return as_str(as_dict(messages[0]).get("id")) if messages else None
