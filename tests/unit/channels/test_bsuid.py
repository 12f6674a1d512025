"""WhatsApp business-scoped user ids (BSUIDs): how the Meta and Twilio webhooks name the customer,
and how a send reaches one known only by that id."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from frontdesk.channels.base import RawRequest
from frontdesk.channels.meta import MetaAdapter
from frontdesk.channels.meta_send import whatsapp_body
from frontdesk.channels.twilio_parse import parse_events as twilio_events
from frontdesk.channels.twilio_send import message_form
from frontdesk.errors import PermanentDelivery
from frontdesk.model.bsuid import is_bsuid, is_parent, scope_of
from frontdesk.model.messages import (
    IdentityChange,
    InboundMessage,
    OutboundMessage,
    StatusUpdate,
    UnattributedMessage,
)
from frontdesk.model.routing import ChannelInfo
from tests.providers import fixture_form, fixture_json

BSUID = "US.13491208655302741918"
NEW_BSUID = "US.13491208655302749999"
PARENT = "US.ENT.11815799212886844830"
WHATSAPP = ChannelInfo("wa", "t1", "whatsapp", "meta", "1122334455667", "+972123456789", True, {})
TWILIO_WA = ChannelInfo("tw", "t1", "whatsapp", "twilio", "+14123456789", "+14123456789", True, {})


def meta(name: str) -> list[Any]:
    body = json.dumps(fixture_json("meta_whatsapp", name)).encode()
    return MetaAdapter().parse(RawRequest("POST", "https://x/webhooks/meta", {}, {}, body), WHATSAPP)


def twilio(form: dict[str, str]) -> list[Any]:
    return twilio_events(RawRequest("POST", "https://x/webhooks/twilio", {}, {}, b"", form=form))


def test_bsuid_shapes() -> None:
    assert is_bsuid(BSUID) and is_bsuid(PARENT) and is_parent(PARENT) and not is_parent(BSUID)
    for other in ("+14155550123", "14155550123", "us.123", "USA.123", "US.", "US.12 3", "", None):
        assert not is_bsuid(other)


def test_a_bsuid_belongs_to_the_portfolio_behind_the_channel() -> None:
    assert scope_of("wa", {}) == "channel:wa"
    shared = scope_of("wa", {"business_portfolio_id": "5566"})
    assert shared == scope_of("wa2", {"business_portfolio_id": 5566}) == "portfolio:5566"
    assert scope_of("wa", {"business_portfolio_id": " "}) == "channel:wa"


def test_meta_message_without_a_phone_number_is_named_by_its_bsuid() -> None:
    [msg] = meta("inbound_text_bsuid_only.json")
    assert isinstance(msg, InboundMessage)
    assert (msg.sender, msg.bsuid, msg.username, msg.sender_name) == (BSUID, BSUID, "ana.b", "Ana")
    assert msg.text == "what are your opening hours" and msg.provider_message_id == "wamid.BSUID1"


def test_meta_message_with_number_and_bsuid_names_both() -> None:
    [msg] = meta("inbound_text_phone_and_bsuid.json")
    named = (msg.sender, msg.bsuid, msg.parent_bsuid, msg.username)
    assert named == ("+972987654321", BSUID, PARENT, "ana.b")


def test_meta_system_messages_report_the_identity_change() -> None:
    [number] = meta("system_user_changed_number.json")
    assert number.kind == "system" and number.text.startswith("User Ana changed from")
    assert number.identity_change == IdentityChange(
        "user_changed_number",
        phone="+972912345678",
        previous_phone="+972987654321",
        bsuid=NEW_BSUID,
        previous_bsuid=BSUID,
    )
    [user_id] = meta("system_user_changed_user_id.json")
    assert user_id.sender == BSUID and user_id.kind == "system"
    change = IdentityChange("user_changed_user_id", bsuid=NEW_BSUID, previous_bsuid=BSUID)
    assert user_id.identity_change == change


def test_a_status_naming_only_recipient_user_id_still_names_the_message() -> None:
    assert meta("status_delivered_bsuid_only.json") == [
        StatusUpdate("wamid.xyzxyz", "delivered", timestamp=datetime.fromtimestamp(1767225700, UTC))
    ]


def test_an_unsupported_message_says_why() -> None:
    [msg] = meta("inbound_unsupported_type.json")
    assert msg.kind == "unsupported" and msg.payload["raw"]["id"] == "wamid.UNSUP1"
    assert msg.reason == (
        "WhatsApp message type 'unsupported' is not supported: Message type is currently not supported."
    )


def test_twilio_bsuid_in_from_and_external_user_id() -> None:
    [only] = twilio(fixture_form("twilio", "inbound_whatsapp_text_bsuid_only.form"))
    assert (only.sender, only.bsuid, only.sender_name) == (BSUID, BSUID, "Ana")
    [both] = twilio(fixture_form("twilio", "inbound_whatsapp_text_phone_and_bsuid.form"))
    assert (both.sender, both.bsuid) == ("+31612345678", BSUID)


def test_twilio_message_from_nobody_is_kept_unattributed() -> None:
    form = fixture_form("twilio", "inbound_whatsapp_text.form")
    del form["From"]
    [event] = twilio(form)
    assert isinstance(event, UnattributedMessage) and event.raw == form and "no sender" in event.reason


def _out(to: str, payload: dict[str, Any] | None = None, **kw: Any) -> OutboundMessage:
    return OutboundMessage(1, "t1", "conv", "wa", to, "We are open.", payload or {}, **kw)


def test_meta_sends_to_a_bsuid_in_recipient() -> None:
    expected = fixture_json("meta_whatsapp", "send_text_to_bsuid_request.json")
    body = whatsapp_body(replace(_out(BSUID), text=expected["text"]["body"]), WHATSAPP)
    assert body == expected and "to" not in body
    assert whatsapp_body(_out("+972987654321"), WHATSAPP)["to"] == "972987654321"


def test_templates_reach_a_bsuid_except_authentication_ones() -> None:
    template = {"name": "order_ready", "language": "en_US"}
    body = whatsapp_body(_out(BSUID, {"template": template}), WHATSAPP)
    assert body["recipient"] == BSUID and body["template"]["name"] == "order_ready"
    auth = {**template, "category": "authentication"}
    with pytest.raises(PermanentDelivery, match="authentication templates need the customer's phone number"):
        whatsapp_body(_out(BSUID, {"template": auth}), WHATSAPP)
    assert "category" not in whatsapp_body(_out("+972987654321", {"template": auth}), WHATSAPP)["template"]
    # The window closed: the re-engagement template goes to the BSUID as well.
    late = datetime.now(UTC) - timedelta(hours=30)
    channel = replace(WHATSAPP, settings={"templates": {"reengagement": template}})
    assert whatsapp_body(_out(BSUID, last_inbound_at=late), channel)["type"] == "template"


def test_twilio_sends_to_a_bsuid_on_whatsapp_only() -> None:
    form = message_form(_out(BSUID), TWILIO_WA, "")
    assert form["To"] == f"whatsapp:{BSUID}" and form["From"] == "whatsapp:+14123456789"
    with pytest.raises(PermanentDelivery, match="sms channel cannot reach"):
        message_form(_out(BSUID), replace(TWILIO_WA, channel_type="sms"), "")
    late = datetime.now(UTC) - timedelta(hours=30)
    auth = {"content_sid": "HX1", "category": "authentication"}
    with pytest.raises(PermanentDelivery, match="authentication templates"):
        channel = replace(TWILIO_WA, settings={"templates": {"reengagement": auth}})
        message_form(_out(BSUID, last_inbound_at=late), channel, "")
