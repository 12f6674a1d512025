"""Twilio sends: what a channel carries, the form posted to the Messages resource, and what a
refusal means.

The form says who sends (a number, or a Messaging Service) and what: text and media, or once
WhatsApp's 24-hour window has closed, the channel's re-engagement template. A refusal is
classified as retryable, permanent, or needing a person to fix the channel. The adapter
(``twilio.py``) makes the HTTP call between the two.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from frontdesk.channels.base import json_object
from frontdesk.channels.bsuid_sends import require_phone_for, require_whatsapp
from frontdesk.channels.capabilities import Capabilities, for_channel_type
from frontdesk.channels.twilio_parse import ERROR_TITLES, WHATSAPP_PREFIX, address
from frontdesk.errors import PermanentDelivery, RetryableDelivery
from frontdesk.model.bsuid import is_bsuid
from frontdesk.model.http import retry_after
from frontdesk.model.messages import OutboundMessage
from frontdesk.model.routing import ChannelInfo

WHATSAPP_WINDOW = timedelta(hours=24)
RETRYABLE_CODES = frozenset({20429, 30001, 63018})  # too many requests, queue overflow, WhatsApp rate
# Account or sender misconfiguration: retrying cannot help, a person has to fix the channel.
ATTENTION_CODES = frozenset({20003, 21606, 63007})

# Twilio caps every Programmable Messaging body, WhatsApp included, at 1600 characters (error 21617),
# and carries WhatsApp buttons only inside pre-approved templates, not in free-form replies.
_WHATSAPP = replace(for_channel_type("whatsapp"), text_limit=1600, buttons=None, send_rate=10.0)
# Twilio's documented defaults: US/Canada long codes 1 segment/s, toll-free 3/s, short codes 100/s.
_TOLL_FREE_NANP = frozenset({"800", "833", "844", "855", "866", "877", "888"})
_LONG_CODE, _TOLL_FREE, _SHORT_CODE = (
    replace(for_channel_type("sms"), send_rate=r) for r in (1.0, 3.0, 100.0)
)


def capabilities(channel: ChannelInfo) -> Capabilities:
    """What ``channel`` carries through Twilio; SMS is paced by the kind of number that sends."""
    if channel.channel_type == "whatsapp":
        return _WHATSAPP
    if channel.channel_type == "sms":
        return _sms(channel.phone_number or "")
    return for_channel_type(channel.channel_type)


def _sms(number: str) -> Capabilities:
    if number.isdigit() and 5 <= len(number) <= 6:
        return _SHORT_CODE
    if number.startswith("+1") and number[2:5] in _TOLL_FREE_NANP:
        return _TOLL_FREE
    return _LONG_CODE


def message_form(msg: OutboundMessage, channel: ChannelInfo, public_url: str) -> dict[str, str]:
    """The Messages.json form for ``msg``; delivery statuses come back to ``public_url`` if given."""
    whatsapp = channel.channel_type == "whatsapp"
    to_bsuid = is_bsuid(msg.to)  # a WhatsApp username's customer: "whatsapp:US.1349…", no "+"
    if to_bsuid:
        require_whatsapp(channel.channel_type)
    form = {"To": _on_channel(msg.to, whatsapp)}
    service = channel.settings.get("messaging_service_sid")
    if service:
        form["MessagingServiceSid"] = str(service)
    else:
        form["From"] = _on_channel(channel.phone_number or channel.routing_key, whatsapp)
    if whatsapp and _outside_window(msg.last_inbound_at):
        if to_bsuid:
            require_phone_for((channel.settings.get("templates") or {}).get("reengagement"))
        form.update(_reengagement(channel))
    else:
        form.update(_content(msg))
    if public_url:
        form["StatusCallback"] = f"{public_url}/webhooks/twilio"
    return form


def account(credentials: dict[str, Any], channel: ChannelInfo) -> tuple[str, str]:
    """The channel's account_sid and auth_token; PermanentDelivery (needs attention) if missing."""
    account_sid, token = credentials.get("account_sid"), credentials.get("auth_token")
    if not account_sid or not token:
        raise PermanentDelivery(
            f"channel {channel.channel_id!r} lacks Twilio credentials (account_sid and auth_token)",
            needs_attention=True,
        )
    return str(account_sid), str(token)


def delivery_error(resp: httpx.Response) -> PermanentDelivery | RetryableDelivery:
    """The delivery error Twilio's refusal stands for: retry, give up, or call a person."""
    error = json_object(resp)
    raw_code = str(error.get("code") or "")
    code = int(raw_code) if raw_code.isdigit() else None
    provider_code = str(code) if code is not None else None
    detail = error.get("message") or ERROR_TITLES.get(provider_code or "") or resp.reason_phrase
    message = f"Twilio answered {resp.status_code}" + (f" ({code})" if code else "") + f": {detail}"
    if resp.status_code == 401 or code in ATTENTION_CODES:
        return PermanentDelivery(message, provider_code=provider_code, needs_attention=True)
    if resp.status_code == 429 or resp.status_code >= 500 or code in RETRYABLE_CODES:
        return RetryableDelivery(message, provider_code=provider_code, retry_after=retry_after(resp))
    return PermanentDelivery(message, provider_code=provider_code)


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


def _on_channel(number: str | None, whatsapp: bool) -> str:
    plain = address(number or "")
    return WHATSAPP_PREFIX + plain if whatsapp else plain
