"""Twilio: SMS, WhatsApp through Twilio, and Voice.

Webhooks are form posts signed with X-Twilio-Signature; messages go out through the REST API's
Messages resource. Calls are answered with TwiML (``channels/twiml.py``) by the voice endpoint,
which reads call webhooks with ``TwilioAdapter.parse_call``; ``parse`` reads messages and delivery
statuses only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx

from frontdesk.channels.base import ChannelAdapter, MediaSource, RawRequest
from frontdesk.errors import BadRequest, InvalidSignature, NotFound, PermanentDelivery, RetryableDelivery
from frontdesk.model.messages import InboundEvent, InboundMessage, OutboundMessage, SendResult, StatusUpdate
from frontdesk.model.phone import normalize_e164
from frontdesk.pipeline.cache import ChannelInfo

DEFAULT_API_BASE = "https://api.twilio.com"
WHATSAPP_PREFIX = "whatsapp:"
WHATSAPP_WINDOW = timedelta(hours=24)
MAX_MEDIA = 10  # Twilio's own limit per message; also bounds what odd input can make us build

# Twilio delivery states we record; the others (queued, accepted, scheduled, sending, receiving,
# received) are steps before the message leaves Twilio and change nothing for us.
STATUS_MAP = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
ERROR_TITLES = {
    "20003": "Authentication failed: check the channel's account_sid and auth_token",
    "21211": "Invalid 'To' phone number",
    "21408": "Sending to this region is not enabled on the Twilio account",
    "21610": "The recipient has opted out (replied STOP)",
    "21614": "'To' is not a valid mobile number",
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered by the carrier",
    "30008": "Unknown error",
    "63016": "Outside WhatsApp's 24-hour window: only a template can be sent",
}
RETRYABLE_CODES = frozenset({20429, 30001, 63018})  # too many requests, queue overflow, WhatsApp rate
# Account or sender misconfiguration: retrying cannot help, a person has to fix the channel.
ATTENTION_CODES = frozenset({20003, 21606, 63007})


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One voice webhook (call start, <Gather> result, status) as the voice endpoint needs it."""

    call_sid: str
    from_: str
    to: str
    speech_result: str | None
    confidence: float | None
    call_status: str
    digits: str | None


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


class TwilioAdapter(ChannelAdapter):
    provider: ClassVar[str] = "twilio"

    def __init__(self, public_url: str = "") -> None:
        # FRONTDESK_PUBLIC_URL: where Twilio posts delivery statuses back to us.
        self.public_url = public_url.rstrip("/")

    def routing_keys(self, req: RawRequest) -> list[str]:
        fields = _fields(req)
        # A status callback reports on a message we sent: our number is its From, not its To.
        side = "From" if _is_outbound(fields) else "To"
        raw = fields.get(side, "").strip()
        if not raw:
            raise BadRequest(f"Twilio webhook without a {side!r} field: cannot tell which number it is for")
        return [_address(raw)]

    def verify(self, req: RawRequest, channel: ChannelInfo, credentials: dict[str, Any]) -> None:
        token = str(credentials.get("auth_token") or "")
        if not token:
            raise InvalidSignature(
                f"channel {channel.channel_id!r} has no Twilio auth_token: its webhooks cannot be verified"
            )
        signature = _header(req.headers, "x-twilio-signature")
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
        fields = _fields(req)
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid") or ""
        if not sid:
            return []  # call webhooks are read with parse_call(); nothing else names a message
        status = _status_of(fields)
        if status:
            return _status_update(sid, status, fields)
        if not fields.get("From", "").strip():
            return []  # a message from nobody cannot belong to a conversation
        return [_message(sid, fields)]

    def parse_call(self, req: RawRequest) -> CallEvent:
        """Read a voice webhook; BadRequest if it names no call."""
        fields = _fields(req)
        call_sid = fields.get("CallSid", "").strip()
        if not call_sid:
            raise BadRequest("Twilio voice webhook without a 'CallSid' field")
        return CallEvent(
            call_sid=call_sid,
            from_=_address(fields.get("From", "")),
            to=_address(fields.get("To", "")),
            speech_result=fields.get("SpeechResult") or None,
            confidence=_float(fields.get("Confidence")),
            call_status=fields.get("CallStatus", ""),
            digits=fields.get("Digits") or None,
        )

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        if channel.channel_type == "voice":
            # Calls are answered synchronously with TwiML; the voice endpoint speaks the stored reply.
            return SendResult(provider_message_id=None, status="sent")
        account_sid, token = _account(credentials, channel)
        url = f"{_api_base(channel)}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        form = self._message_form(msg, channel)
        try:
            resp = await http.post(url, data=form, auth=(account_sid, token))
        except httpx.TimeoutException as exc:
            raise RetryableDelivery(f"Twilio did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise RetryableDelivery(f"could not reach Twilio at {url}: {exc!r}") from exc
        if resp.is_success:
            return SendResult(provider_message_id=_json(resp).get("sid") or None, status="sent")
        raise _delivery_error(resp)

    async def media_source(
        self,
        payload: dict[str, Any],
        channel: ChannelInfo,
        credentials: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> MediaSource:
        media = payload.get("media") if isinstance(payload, dict) else None
        url = media.get("url") if isinstance(media, dict) else None
        if not url or not isinstance(url, str):
            raise NotFound("this Twilio message carries no media")
        headers = {}
        account_sid, token = credentials.get("account_sid"), credentials.get("auth_token")
        # Credentials go only to Twilio's own API host, never to whatever URL a payload names.
        if account_sid and token and _origin(url) == _origin(_api_base(channel)):
            basic = base64.b64encode(_utf8(f"{account_sid}:{token}")).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
        return MediaSource(url=url, headers=headers, content_type=media.get("mime_type"))

    def _message_form(self, msg: OutboundMessage, channel: ChannelInfo) -> dict[str, str]:
        whatsapp = channel.channel_type == "whatsapp"
        form = {"To": _on_channel(msg.to, whatsapp)}
        service = channel.settings.get("messaging_service_sid")
        if service:
            form["MessagingServiceSid"] = str(service)
        else:
            form["From"] = _on_channel(channel.phone_number or channel.routing_key, whatsapp)
        if whatsapp and _outside_window(msg.last_inbound_at):
            form.update(_reengagement(channel))
        else:
            form.update(_content(msg))
        if self.public_url:
            form["StatusCallback"] = f"{self.public_url}/webhooks/twilio"
        return form


# --- inbound -------------------------------------------------------------------------------------


def _message(sid: str, fields: dict[str, str]) -> InboundMessage:
    body = fields.get("Body", "")
    msg = InboundMessage(
        provider_message_id=sid,
        sender=_address(fields["From"]),
        sender_name=fields.get("ProfileName") or None,
        text=body,
        reply_to=fields.get("OriginalRepliedMessageSid") or None,
    )
    media = _media_items(fields)
    location = _location(fields)
    if media:
        msg.kind = _media_kind(media[0]["mime_type"])
        msg.payload = {"media": {**media[0], "caption": body}, "media_items": media}
    elif location:
        msg.kind, msg.payload = "location", {"location": location}
    elif fields.get("ButtonPayload") or fields.get("ButtonText"):
        msg.kind, msg.text = "interactive", fields.get("ButtonText", "")
        msg.payload = {
            "interactive": {"type": "button", "id": fields.get("ButtonPayload", ""), "title": msg.text}
        }
    elif not body:
        msg.kind, msg.payload = "unsupported", {"raw": dict(fields)}
    return msg


def _media_items(fields: dict[str, str]) -> list[dict[str, str]]:
    try:
        count = min(int(fields.get("NumMedia", "0")), MAX_MEDIA)
    except ValueError:
        return []
    items = []
    for i in range(count):
        url = fields.get(f"MediaUrl{i}")
        if url:
            items.append({"url": url, "mime_type": fields.get(f"MediaContentType{i}", "")})
    return items


def _media_kind(mime_type: str) -> str:
    family = mime_type.partition("/")[0].lower()
    return family if family in ("image", "audio", "video") else "document"


def _location(fields: dict[str, str]) -> dict[str, Any] | None:
    latitude, longitude = _float(fields.get("Latitude")), _float(fields.get("Longitude"))
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        return None
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if fields.get("Label"):
        place["name"] = fields["Label"]
    if fields.get("Address"):
        place["address"] = fields["Address"]
    return place


def _status_of(fields: dict[str, str]) -> str:
    """The delivery status a status callback reports; "" when the webhook is an incoming message."""
    status = fields.get("MessageStatus") or ("" if "Body" in fields else fields.get("SmsStatus", ""))
    status = status.strip().lower()
    return "" if status in ("", "received", "receiving") else status


def _status_update(sid: str, status: str, fields: dict[str, str]) -> list[InboundEvent]:
    mapped = STATUS_MAP.get(status)
    if mapped is None:
        return []
    code = fields.get("ErrorCode") or None
    title = fields.get("ErrorMessage") or ERROR_TITLES.get(code or "")
    if mapped == "failed" and not title:
        title = f"Twilio reported the message {status}"
    return [StatusUpdate(provider_message_id=sid, status=mapped, error_code=code, error_title=title)]


def _is_outbound(fields: dict[str, str]) -> bool:
    return bool(_status_of(fields)) or fields.get("Direction", "").startswith("outbound")


# --- signatures ----------------------------------------------------------------------------------


def _signed_params(req: RawRequest) -> list[tuple[str, str]]:
    """What the signature covers besides the URL; checks the body hash of JSON webhooks."""
    body_hash = _query_value(req.url, "bodySHA256")
    if body_hash is not None:
        # The URL, which the signature covers, carries the body's hash: the body itself is not signed.
        if not hmac.compare_digest(_utf8(hashlib.sha256(req.body).hexdigest()), _utf8(body_hash.lower())):
            raise InvalidSignature("the request body does not match the bodySHA256 in its URL")
        return []
    if _is_json(req):
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


# --- outbound ------------------------------------------------------------------------------------


def _content(msg: OutboundMessage) -> dict[str, str]:
    form = {}
    if msg.text:
        form["Body"] = msg.text
    media = msg.payload.get("media")
    if isinstance(media, dict) and media.get("url"):
        form["MediaUrl"] = str(media["url"])
    if not form:
        raise PermanentDelivery("the message has neither text nor media: nothing to send")
    return form


def _reengagement(channel: ChannelInfo) -> dict[str, str]:
    template = (channel.settings.get("templates") or {}).get("reengagement")
    if not template:
        raise PermanentDelivery(
            "outside WhatsApp's 24-hour window and the channel has no templates.reengagement "
            "(content_sid of an approved template) to reopen the conversation",
            provider_code="63016",
        )
    if not isinstance(template, dict) or not template.get("content_sid"):
        raise PermanentDelivery(
            f"channel {channel.channel_id!r}: templates.reengagement needs a content_sid (HX…)",
            provider_code="63016",
            needs_attention=True,
        )
    form = {"ContentSid": str(template["content_sid"])}
    if template.get("content_variables"):
        form["ContentVariables"] = json.dumps(template["content_variables"])
    return form


def _outside_window(last_inbound_at: datetime | None) -> bool:
    # Unknown means unknown: send as usual and let Twilio answer 63016 if the window is closed.
    if last_inbound_at is None:
        return False
    if last_inbound_at.tzinfo is None:
        last_inbound_at = last_inbound_at.replace(tzinfo=UTC)
    return datetime.now(UTC) - last_inbound_at > WHATSAPP_WINDOW


def _delivery_error(resp: httpx.Response) -> PermanentDelivery | RetryableDelivery:
    error = _json(resp)
    raw_code = str(error.get("code") or "")
    code = int(raw_code) if raw_code.isdigit() else None
    provider_code = str(code) if code is not None else None
    detail = error.get("message") or ERROR_TITLES.get(provider_code or "") or resp.reason_phrase
    message = f"Twilio answered {resp.status_code}" + (f" ({code})" if code else "") + f": {detail}"
    if resp.status_code == 401 or code in ATTENTION_CODES:
        return PermanentDelivery(message, provider_code=provider_code, needs_attention=True)
    if resp.status_code == 429 or resp.status_code >= 500 or code in RETRYABLE_CODES:
        return RetryableDelivery(message, provider_code=provider_code, retry_after=_retry_after(resp))
    return PermanentDelivery(message, provider_code=provider_code)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _account(credentials: dict[str, Any], channel: ChannelInfo) -> tuple[str, str]:
    account_sid, token = credentials.get("account_sid"), credentials.get("auth_token")
    if not account_sid or not token:
        raise PermanentDelivery(
            f"channel {channel.channel_id!r} lacks Twilio credentials (account_sid and auth_token)",
            needs_attention=True,
        )
    return str(account_sid), str(token)


# --- small readers -------------------------------------------------------------------------------


def _fields(req: RawRequest) -> dict[str, str]:
    """The webhook's parameters: the caller's parsed form, else the body (form or JSON)."""
    if req.form:
        return dict(req.form)
    if not req.body:
        return {}
    if _is_json(req) or req.body.lstrip()[:1] == b"{":
        try:
            data = json.loads(req.body)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): _text(v) for k, v in data.items()}
    return dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _address(raw: str) -> str:
    """An E.164 number from ``+1…`` or ``whatsapp:+1…``; short codes and SIP/client names as given."""
    text = raw.strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX) :].strip()
    try:
        return normalize_e164(text)
    except ValueError:
        return text


def _on_channel(number: str | None, whatsapp: bool) -> str:
    plain = _address(number or "")
    return WHATSAPP_PREFIX + plain if whatsapp else plain


def _api_base(channel: ChannelInfo) -> str:
    return str(channel.settings.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        return "", None, None


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _is_json(req: RawRequest) -> bool:
    return _header(req.headers, "content-type").split(";")[0].strip().lower() == "application/json"


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
