"""Twilio: SMS, WhatsApp through Twilio, and Voice.

Webhooks are form posts signed with X-Twilio-Signature; messages go out through the REST API's
Messages resource. Calls are answered with TwiML (``channels/twiml.py``): the adapter is a
``VoiceAdapter``, reading call webhooks with ``parse_call`` for ``pipeline.calls``; ``parse`` reads
messages and delivery statuses only. This module holds the adapter and the signature check;
reading webhooks lives in ``twilio_parse``, the send form, error classification and what each
channel carries in ``twilio_send``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx
from starlette.responses import Response

from frontdesk.channels import twilio_parse, twilio_send, twiml
from frontdesk.channels.base import MediaSource, RawRequest, json_object, origin
from frontdesk.channels.capabilities import Capabilities
from frontdesk.channels.twilio_parse import header, is_json
from frontdesk.channels.twilio_send import account, delivery_error, message_form
from frontdesk.channels.voice import CallEvent, CallStep, VoiceAdapter
from frontdesk.errors import InvalidSignature, NotFound, RetryableDelivery
from frontdesk.model.messages import InboundEvent, OutboundMessage, SendResult
from frontdesk.model.routing import ChannelInfo

DEFAULT_API_BASE = "https://api.twilio.com"


def twilio_signature(
    url: str, params: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]], auth_token: str
) -> str:
    """The X-Twilio-Signature Twilio sends for a POST of ``params`` to ``url``.

    As twilio-python's RequestValidator computes it: the URL, then each distinct parameter name in
    sorted order followed by its distinct values in sorted order; HMAC-SHA1 keyed with the auth
    token; base64. For a JSON body pass no params: the URL carries the body's bodySHA256.
    """
    values: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        values.setdefault(name, set()).add(value)
    signed = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(_utf8(auth_token), _utf8(signed), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class TwilioAdapter(VoiceAdapter):
    provider: ClassVar[str] = "twilio"
    # MediaUrlN is the Media subresource on api.twilio.com; it redirects to Twilio's storage,
    # and each redirect is checked by the outbound guard.
    media_domains: ClassVar[tuple[str, ...]] = ("twilio.com",)
    # Creating a Message takes no idempotency key (Twilio's idempotency token is on the webhooks it
    # sends us, and IdempotencyKey on Pay only).
    idempotent_sends: ClassVar[bool] = False
    # Form posts, signed parameter by parameter; or JSON, signed through bodySHA256 in the URL.
    webhook_content_types: ClassVar[tuple[str, ...]] = (
        "application/x-www-form-urlencoded",
        "application/json",
    )
    signature_headers: ClassVar[tuple[str, ...]] = ("x-twilio-signature",)
    ended_statuses: ClassVar[frozenset[str]] = frozenset(
        {"completed", "busy", "failed", "no-answer", "canceled"}
    )

    def __init__(self, public_url: str = "") -> None:
        # FRONTDESK_PUBLIC_URL: where Twilio posts delivery statuses back to us.
        self.public_url = public_url.rstrip("/")

    def capabilities(self, channel: ChannelInfo) -> Capabilities:
        return twilio_send.capabilities(channel)

    def routing_keys(self, req: RawRequest) -> list[str]:
        return twilio_parse.routing_keys(req)

    def verify(self, req: RawRequest, channel: ChannelInfo, credentials: dict[str, Any]) -> None:
        token = str(credentials.get("auth_token") or "")
        if not token:
            raise InvalidSignature(
                f"channel {channel.channel_id!r} has no Twilio auth_token: its webhooks cannot be verified"
            )
        signature = header(req.headers, "x-twilio-signature")
        if not signature:
            raise InvalidSignature("missing X-Twilio-Signature header")
        params = _signed_params(req)
        matches = [
            hmac.compare_digest(_utf8(signature), _utf8(twilio_signature(url, params, token)))
            for url in _url_variants(req.url)
        ]
        if not any(matches):
            raise InvalidSignature(
                "X-Twilio-Signature does not match: check the channel's auth_token and that "
                f"FRONTDESK_PUBLIC_URL gives the URL configured in Twilio (checked {req.url})"
            )

    def parse(self, req: RawRequest, channel: ChannelInfo) -> list[InboundEvent]:
        return twilio_parse.parse_events(req)

    def parse_call(self, req: RawRequest) -> CallEvent:
        """Read a voice webhook; BadRequest if it names no call."""
        return twilio_parse.parse_call(req)

    def call_response(self, step: CallStep) -> Response:
        return Response(twiml.render(step), media_type="application/xml")

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        if channel.channel_type == "voice":
            # Calls are answered synchronously with TwiML; the voice endpoint speaks the stored reply.
            return SendResult(provider_message_id=None, status="sent")
        account_sid, token = account(credentials, channel)
        url = f"{_api_base(channel)}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        form = message_form(msg, channel, self.public_url)
        try:
            resp = await http.post(url, data=form, auth=(account_sid, token))
        except httpx.TimeoutException as exc:
            raise RetryableDelivery(f"Twilio did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise RetryableDelivery(f"could not reach Twilio at {url}: {exc!r}") from exc
        if resp.is_success:
            return SendResult(provider_message_id=json_object(resp).get("sid") or None, status="sent")
        raise delivery_error(resp)

    async def media_source(
        self,
        payload: dict[str, Any],
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> MediaSource:
        media = payload.get("media") if isinstance(payload, dict) else None
        if not isinstance(media, dict):
            raise NotFound("this Twilio message carries no media")
        url = media.get("url")
        if not url or not isinstance(url, str):
            raise NotFound("this Twilio message carries no media")
        headers = {}
        account_sid, token = credentials.get("account_sid"), credentials.get("auth_token")
        # Credentials go only to Twilio's own API host, never to whatever URL a payload names.
        if account_sid and token and origin(url) == origin(_api_base(channel)):
            basic = base64.b64encode(_utf8(f"{account_sid}:{token}")).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
        return MediaSource(url=url, headers=headers, content_type=media.get("mime_type"))


# --- signatures ----------------------------------------------------------------------------------


def _signed_params(req: RawRequest) -> list[tuple[str, str]]:
    """What the signature covers besides the URL; checks the body hash of JSON webhooks."""
    body_hash = _query_value(req.url, "bodySHA256")
    if body_hash is not None:
        # The URL, which the signature covers, carries the body's hash: the body itself is not signed.
        if not hmac.compare_digest(_utf8(hashlib.sha256(req.body).hexdigest()), _utf8(body_hash.lower())):
            raise InvalidSignature("the request body does not match the bodySHA256 in its URL")
        return []
    if is_json(req):
        raise InvalidSignature("a JSON Twilio webhook must carry bodySHA256 in its URL")
    if req.body:
        # The exact bytes, so repeated parameters are signed as Twilio signed them.
        return parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    return list(req.form.items())


def _url_variants(url: str) -> list[str]:
    """The URL as given and with the default port added or removed: Twilio signs either form."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [url]
    default = {"https": 443, "http": 80}.get(parts.scheme)
    start = url.find("://") + 3
    if default is None or start < 3 or url[start : start + len(parts.netloc)] != parts.netloc:
        return [url]
    rest = url[start + len(parts.netloc) :]
    if port is None:
        return [url, f"{url[:start]}{parts.netloc}:{default}{rest}"]
    if port == default:
        return [url, f"{url[:start]}{parts.netloc.rsplit(':', 1)[0]}{rest}"]
    return [url]


def _query_value(url: str, name: str) -> str | None:
    try:
        values = parse_qs(urlsplit(url).query).get(name)
    except ValueError:
        return None
    return values[0] if values else None


def _pairs(
    params: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]],
) -> Iterable[tuple[str, str]]:
    if not isinstance(params, Mapping):
        yield from params
        return
    for name, value in params.items():
        if isinstance(value, str):
            yield name, value
        else:
            yield from ((name, v) for v in value)


# --- small readers -------------------------------------------------------------------------------


def _api_base(channel: ChannelInfo) -> str:
    return str(channel.settings.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
