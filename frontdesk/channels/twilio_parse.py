"""Twilio webhooks → normalized events: incoming messages, delivery statuses and voice calls.

Twilio posts flat fields, as a form or (signed through ``bodySHA256``) as JSON; both read the same
here. On WhatsApp, ``ExternalUserId`` (and ``ParentExternalUserId``) carry the customer's
business-scoped user id, which stands in ``From`` itself (``whatsapp:US.1349…``) when WhatsApp
hides the number (``model.bsuid``). Kept apart from the adapter (``twilio.py``) as ``meta_parse``
is from ``meta.py``: what a webhook says is one concept, proving who sent it and answering it are
others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from frontdesk.channels.base import RawRequest
from frontdesk.channels.voice import CallEvent
from frontdesk.errors import BadRequest
from frontdesk.model.bsuid import bsuid_or_none
from frontdesk.model.messages import InboundEvent, InboundMessage, StatusUpdate, UnattributedMessage
from frontdesk.model.phone import normalize_e164

WHATSAPP_PREFIX = "whatsapp:"
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


def routing_keys(req: RawRequest) -> list[str]:
    """Our number the webhook is for; BadRequest when the webhook names none."""
    fields = _fields(req)
    # A status callback reports on a message we sent: our number is its From, not its To.
    side = "From" if _is_outbound(fields) else "To"
    raw = fields.get(side, "").strip()
    if not raw:
        raise BadRequest(f"Twilio webhook without a {side!r} field: cannot tell which number it is for")
    return [address(raw)]


def parse_events(req: RawRequest) -> list[InboundEvent]:
    """The message or delivery status a messaging webhook carries; nothing for call webhooks."""
    fields = _fields(req)
    sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid") or ""
    if not sid:
        return []  # call webhooks are read with parse_call(); nothing else names a message
    status = _status_of(fields)
    if status:
        return _status_update(sid, status, fields)
    # "whatsapp:" with nothing after it names no one either.
    if not (address(fields.get("From", "")) or bsuid_or_none(fields.get("ExternalUserId"))):
        # No conversation to put it in, but Twilio will not send it again: keep it on its own.
        return [UnattributedMessage(sid, "the message names no sender (no From)", dict(fields))]
    return [_message(sid, fields)]


def parse_call(req: RawRequest) -> CallEvent:
    """Read a voice webhook; BadRequest if it names no call."""
    fields = _fields(req)
    call_sid = fields.get("CallSid", "").strip()
    if not call_sid:
        raise BadRequest("Twilio voice webhook without a 'CallSid' field")
    return CallEvent(
        call_sid=call_sid,
        from_=address(fields.get("From", "")),
        to=address(fields.get("To", "")),
        speech_result=fields.get("SpeechResult") or None,
        confidence=_float(fields.get("Confidence")),
        call_status=fields.get("CallStatus", ""),
        digits=fields.get("Digits") or None,
    )


def address(raw: str) -> str:
    """An E.164 number from ``+1…`` or ``whatsapp:+1…``; short codes and SIP/client names as given."""
    text = raw.strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX) :].strip()
    try:
        return normalize_e164(text)
    except ValueError:
        return text


def header(headers: Mapping[str, str], name: str) -> str:
    """The value of header ``name`` (lower case), whatever case the request gave it; "" if absent."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def is_json(req: RawRequest) -> bool:
    return header(req.headers, "content-type").split(";")[0].strip().lower() == "application/json"


# --- messages and statuses -----------------------------------------------------------------------


def _message(sid: str, fields: dict[str, str]) -> InboundMessage:
    body = fields.get("Body", "")
    sender = address(fields.get("From", ""))
    bsuid = bsuid_or_none(fields.get("ExternalUserId")) or bsuid_or_none(sender)
    msg = InboundMessage(
        provider_message_id=sid,
        sender=sender or bsuid or "",
        sender_name=fields.get("ProfileName") or None,
        text=body,
        reply_to=fields.get("OriginalRepliedMessageSid") or None,
        bsuid=bsuid,
        parent_bsuid=bsuid_or_none(fields.get("ParentExternalUserId")),
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
        msg.reason = f"a Twilio {fields.get('MessageType') or 'message'} with no text, media or location"
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


# --- small readers -------------------------------------------------------------------------------


def _fields(req: RawRequest) -> dict[str, str]:
    """The webhook's parameters: the caller's parsed form, else the body (form or JSON)."""
    if req.form:
        return dict(req.form)
    if not req.body:
        return {}
    if is_json(req):
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


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
