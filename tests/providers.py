"""Provider test support: recorded fixtures, signatures, and Meta / Twilio channels wired to fakes."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from frontdesk.channels.capabilities import Capabilities
from frontdesk.channels.registry import AdapterRegistry
from frontdesk.channels.twilio import twilio_signature
from frontdesk.model.routing import ChannelInfo
from frontdesk.security.tokens import SYSTEM
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
PHONE_NUMBER_ID = "1122334455667"  # the fixtures' WhatsApp phone_number_id
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
ACCESS_TOKEN = "EAAG-fake-token"  # what tests.fakes.meta_graph accepts
TWILIO_SID = ACCOUNT_SID  # what tests.fakes.twilio_rest accepts
TWILIO_TOKEN = AUTH_TOKEN


def fixture_json(provider: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / provider / name).read_text())


def fixture_form(provider: str, name: str) -> dict[str, str]:
    return dict(parse_qsl((FIXTURES / provider / name).read_text().strip(), keep_blank_values=True))


def recent(body: dict[str, Any]) -> dict[str, Any]:
    """A recorded WhatsApp webhook with its messages dated now (older ones are refused as replays)."""
    for entry in body.get("entry", []):
        for change in entry.get("changes", []):
            for message in change.get("value", {}).get("messages", []):
                message["timestamp"] = str(int(time.time()))
    return body


def whatsapp_text(text: str, message_id: str, sender: str = "972987654321") -> dict[str, Any]:
    """The recorded WhatsApp text webhook with another text, message id and sender (who has their
    own business-scoped user id, as every WhatsApp user has), sent now."""
    body = recent(copy.deepcopy(fixture_json("meta_whatsapp", "inbound_text.json")))
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"][0].update(id=message_id, text={"body": text}, **{"from": sender})
    contact = value["contacts"][0]
    contact.pop("parent_user_id", None)
    contact.update(wa_id=sender, user_id=f"US.{sender.lstrip('+')}0")
    return body


def whatsapp_status(status_fixture: str, provider_message_id: str) -> dict[str, Any]:
    body = copy.deepcopy(fixture_json("meta_whatsapp", status_fixture))
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = provider_message_id
    return body


def meta_signed(body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}


def twilio_signed(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> tuple[str, dict[str, str]]:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(url, params, token),
    }
    return urlencode(params), headers


async def add_meta_channel(
    rt,  # type: ignore[no-untyped-def]
    api_base_url: str,
    *,
    channel_id: str = "wa",
    channel_type: str = "whatsapp",
    routing_key: str = PHONE_NUMBER_ID,
    agent_id: str = "t_faq",
    tenant_id: str = "default",
    phone: str | None = "+972123456789",
    settings: dict[str, Any] | None = None,
) -> str:
    await rt.config.create(
        "channel",
        {
            "channel_id": channel_id,
            "channel_name": channel_id,
            "channel_type": channel_type,
            "provider": "meta",
            "tenant_id": tenant_id,
            "phone_number": phone if channel_type == "whatsapp" else None,
            "routing_key": routing_key,
            "credentials": {
                "access_token": ACCESS_TOKEN,
                "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
            },
            "settings": {"api_base_url": api_base_url, **(settings or {})},
        },
        principal=SYSTEM,
    )
    return await _route(rt, agent_id, channel_id, tenant_id)


async def add_twilio_channel(
    rt,  # type: ignore[no-untyped-def]
    api_base_url: str,
    *,
    channel_id: str = "tw",
    channel_type: str = "sms",
    number: str = "+14123456789",
    agent_id: str = "t_faq",
    tenant_id: str = "default",
    settings: dict[str, Any] | None = None,
) -> str:
    await rt.config.create(
        "channel",
        {
            "channel_id": channel_id,
            "channel_name": channel_id,
            "channel_type": channel_type,
            "provider": "twilio",
            "tenant_id": tenant_id,
            "phone_number": number,
            "credentials": {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
            "settings": {"api_base_url": api_base_url, **(settings or {})},
        },
        principal=SYSTEM,
    )
    return await _route(rt, agent_id, channel_id, tenant_id)


async def _route(rt, agent_id: str, channel_id: str, tenant_id: str) -> str:  # type: ignore[no-untyped-def]
    await rt.config.create(
        "mapping",
        {"agent_id": agent_id, "channel_id": channel_id, "is_primary": True, "tenant_id": tenant_id},
        principal=SYSTEM,
    )
    return channel_id


def capabilities_of(channel_type: str, provider: str = "", phone_number: str | None = None) -> Capabilities:
    """What a channel of ``channel_type`` through ``provider`` carries, as its adapter says."""
    channel = ChannelInfo("c", "t", channel_type, provider, "key", phone_number, True, {})
    return AdapterRegistry().get(provider).capabilities(channel)
