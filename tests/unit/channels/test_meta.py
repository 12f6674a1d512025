"""The Meta adapter (WhatsApp Cloud API, Messenger, Instagram) against real payloads and a fake Graph API."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.channels.base import RawRequest
from frontdesk.channels.meta import MetaAdapter, classify
from frontdesk.errors import BadRequest, InvalidSignature, NotFound, PermanentDelivery, RetryableDelivery
from frontdesk.model.messages import InboundMessage, OutboundMessage, StatusUpdate, UnattributedMessage
from frontdesk.model.routing import ChannelInfo
from tests.fakes import meta_graph
from tests.fakes.meta_graph import FakeMetaGraph

FIXTURES = Path(__file__).parents[2] / "fixtures" / "providers" / "meta_whatsapp"
# The recorded customers' business-scoped user ids (contacts[].user_id, parent_user_id).
FIXTURE_IDS = {"bsuid": "US.13491208655302741918", "parent_bsuid": "US.ENT.11815799212886844830"}

fake_meta = meta_graph.fake_meta  # the fixture, made visible to this module's tests
ADAPTER = MetaAdapter()
PHONE_ID = "1122334455667"
PAGE_ID = "106000000000001"
IG_ID = "17841400000000001"
PSID = "24000000000000001"
SECRET = "app-secret-for-tests"
CREDS = {"access_token": FakeMetaGraph.access_token, "app_secret": SECRET, "verify_token": "meatyhamhock"}
WHATSAPP = ChannelInfo(
    channel_id="ch_wa",
    tenant_id="t1",
    channel_type="whatsapp",
    provider="meta",
    routing_key=PHONE_ID,
    phone_number="+972123456789",
    active=True,
    settings={},
)
MESSENGER = replace(
    WHATSAPP, channel_id="ch_fb", channel_type="messenger", routing_key=PAGE_ID, phone_number=None
)
INSTAGRAM = replace(MESSENGER, channel_id="ch_ig", channel_type="instagram", routing_key=IG_ID)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def request(body: Any, *, headers: dict[str, str] | None = None, method: str = "POST") -> RawRequest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawRequest(
        method=method, url="https://fd.example/webhooks/meta", headers=headers or {}, query={}, body=data
    )


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse(body: Any, channel: ChannelInfo = WHATSAPP) -> list[Any]:
    return ADAPTER.parse(request(body), channel)


def whatsapp_webhook(*messages: dict[str, Any], phone_id: str = PHONE_ID) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "16505551111", "phone_number_id": phone_id},
        "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551181"}],
        "messages": list(messages),
    }
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"value": value}]}]}


def wa_message(mtype: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "from": "16315551181",
        "id": "wamid.ID",
        "timestamp": "1700000000",
        "type": mtype,
        mtype: content,
        **extra,
    }


def messaging_webhook(*events: dict[str, Any], obj: str = "page", entry_id: str = PAGE_ID) -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": entry_id, "time": 1700000000123, "messaging": list(events)}]}


def fb_event(page: str = PAGE_ID, **content: Any) -> dict[str, Any]:
    return {"sender": {"id": PSID}, "recipient": {"id": page}, "timestamp": 1700000000123, **content}


# --- the WhatsApp fixtures ------------------------------------------------------------------------


def _raw_message(name: str) -> dict[str, Any]:
    return fixture(name)["entry"][0]["changes"][0]["value"]["messages"][0]


def test_inbound_text_fixture() -> None:
    assert parse(fixture("inbound_text.json")) == [
        InboundMessage(
            provider_message_id="wamid.xyzxyz",
            sender="+972987654321",
            sender_name="Test Name",
            text="Body Text",
            kind="text",
            payload={},
            timestamp=at(1697043223),
            **FIXTURE_IDS,
        )
    ]


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("inbound_image.json", None),
        (
            "inbound_image_with_url.json",
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453&source=webhook"
            "&ext=487r9re&hash=heiwchueowbcew-dnedcw",
        ),
    ],
)
def test_inbound_image_fixtures(name: str, url: str | None) -> None:
    media = {"id": "65463453", "mime_type": "image/jpeg", "sha256": "4654+8g="}
    if url:
        media["url"] = url
    assert parse(fixture(name)) == [
        InboundMessage(
            provider_message_id="wamid.xyzxyz",
            sender="+972987654321",
            sender_name="Test Name",
            text="",
            kind="image",
            payload={"media": media, "raw": _raw_message(name)},
            timestamp=at(1697043379),
            **FIXTURE_IDS,
        )
    ]


@pytest.mark.parametrize(
    ("name", "itype", "message_id", "when"),
    [
        ("interactive_button_reply.json", "button_reply", "wamid.xyzxyz", 1698266730),
        ("interactive_list_reply.json", "list_reply", "wamid.zyzxyz", 1698266905),
    ],
)
def test_interactive_reply_fixtures(name: str, itype: str, message_id: str, when: int) -> None:
    choice = {"type": itype, "id": "callback_data", "title": "title"}
    assert parse(fixture(name)) == [
        InboundMessage(
            provider_message_id=message_id,
            sender="+972987654321",
            sender_name="Test Name",
            text="title",
            kind="interactive",
            payload={"interactive": choice, "raw": _raw_message(name)},
            reply_to="wamid.xyzxyz",
            timestamp=at(when),
            **FIXTURE_IDS,
        )
    ]


@pytest.mark.parametrize(
    ("name", "status", "when"),
    [
        ("status_sent.json", "sent", 1698266945),
        ("status_delivered.json", "delivered", 1698266945),
        ("status_read.json", "read", 1689380458),
    ],
)
def test_status_fixtures(name: str, status: str, when: int) -> None:
    assert parse(fixture(name)) == [StatusUpdate("wamid.xyzxyz", status, timestamp=at(when))]


def test_failed_status_fixture_carries_the_error() -> None:
    assert parse(fixture("status_failed.json")) == [
        StatusUpdate(
            "wamid.xyzxyz",
            "failed",
            error_code="130472",
            error_title="User's number is part of an experiment",
            timestamp=at(1689380458),
        )
    ]


def test_reengagement_error_object_in_a_failed_status() -> None:
    body = fixture("status_failed.json")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = [
        fixture("error_131047_reengagement_webhook_error_object.json")
    ]
    [update] = parse(body)
    assert (update.status, update.error_code, update.error_title) == (
        "failed",
        "131047",
        "Re-engagement message",
    )


@pytest.mark.parametrize(
    "name",
    [
        "send_text_request.json",
        "send_image_request.json",
        "send_success_response.json",
        "error_131030_recipient_not_allowed.json",
        "error_190_expired_token.json",
    ],
)
def test_fixtures_that_are_not_webhooks_are_bad_requests(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    with pytest.raises(BadRequest, match="unknown Meta webhook object"):
        ADAPTER.routing_keys(request(body))
    assert parse(body) == []


# --- other WhatsApp message types -----------------------------------------------------------------


def _one(message: dict[str, Any]) -> InboundMessage:
    [parsed] = parse(whatsapp_webhook(message))
    assert parsed.sender == "+16315551181"
    assert parsed.sender_name == "Kerry Fisher"
    assert parsed.timestamp == at(1700000000)
    return parsed


def test_document_keeps_caption_and_filename() -> None:
    content = {
        "id": "77",
        "mime_type": "application/pdf",
        "sha256": "abc",
        "caption": "menu",
        "filename": "m.pdf",
    }
    parsed = _one(wa_message("document", content))
    assert (parsed.kind, parsed.text) == ("document", "menu")
    assert parsed.payload["media"] == {**content}


@pytest.mark.parametrize("kind", ["audio", "video", "sticker"])
def test_other_media_kinds(kind: str) -> None:
    parsed = _one(wa_message(kind, {"id": "9", "mime_type": "x/y"}))
    assert (parsed.kind, parsed.text, parsed.payload["media"]) == (kind, "", {"id": "9", "mime_type": "x/y"})


def test_template_quick_reply_button() -> None:
    parsed = _one(
        wa_message("button", {"payload": "YES_PLEASE", "text": "Yes please"}, context={"id": "wamid.T"})
    )
    assert (parsed.kind, parsed.text, parsed.reply_to) == ("interactive", "Yes please", "wamid.T")
    assert parsed.payload["interactive"] == {"type": "button", "id": "YES_PLEASE", "title": "Yes please"}


def test_location() -> None:
    place = {"latitude": 38.9, "longitude": -77.03, "name": "Philz", "address": "1 Main St"}
    parsed = _one(wa_message("location", place))
    assert (parsed.kind, parsed.text, parsed.payload["location"]) == ("location", "Philz, 1 Main St", place)


def test_contacts() -> None:
    cards = [{"name": {"formatted_name": "Barbara Johnson"}, "phones": [{"phone": "+1 555"}]}, {"name": {}}]
    parsed = _one(wa_message("contacts", cards))
    assert (parsed.kind, parsed.text) == ("contacts", "Shared contact: Barbara Johnson, (no name)")
    assert parsed.payload["contacts"] == cards


def test_reaction() -> None:
    parsed = _one(wa_message("reaction", {"message_id": "wamid.OURS", "emoji": "\U0001f44d"}))
    assert (parsed.kind, parsed.text) == ("reaction", "\U0001f44d")
    assert parsed.payload["reaction"] == {"message_id": "wamid.OURS", "emoji": "\U0001f44d"}


@pytest.mark.parametrize(
    "message",
    [
        wa_message("unsupported", {}, errors=[{"code": 131051, "title": "Message type unknown"}]),
        wa_message("order", {"catalog_id": "1"}),
        wa_message("interactive", {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}),
        wa_message("text", {"body": ["not", "text"]}),
        wa_message("image", {"mime_type": "image/png"}),  # no media id
        wa_message("location", {"latitude": "north"}),
    ],
)
def test_unknown_or_malformed_messages_are_kept_as_unsupported(message: dict[str, Any]) -> None:
    parsed = _one(message)
    assert (parsed.provider_message_id, parsed.kind, parsed.text) == ("wamid.ID", "unsupported", "")
    assert parsed.payload == {"raw": message}


def test_a_message_without_id_gets_a_stable_one() -> None:
    message = wa_message("text", {"body": "hi"})
    del message["id"]
    first, second = _one(message), _one(dict(message))
    assert first.provider_message_id == second.provider_message_id
    assert first.provider_message_id.startswith("meta-")


def test_referral_of_click_to_whatsapp_ads_is_kept() -> None:
    referral = {"source_url": "https://fb.me/x", "source_type": "ad", "source_id": "1"}
    parsed = _one(wa_message("text", {"body": "I saw your ad"}, referral=referral))
    assert parsed.payload == {"referral": referral}


def test_message_without_sender_is_kept_unattributed() -> None:
    message = wa_message("text", {"body": "hi"})
    del message["from"]
    assert parse(whatsapp_webhook(message)) == [
        UnattributedMessage(message["id"], "the message names no sender", message)
    ]


# --- Messenger and Instagram ------------------------------------------------------------------------


def _template_instagram() -> dict[str, Any]:
    """Meta's placeholder example, with values filled in where it shows placeholders."""
    text = (FIXTURES / "messenger_instagram_shape_TEMPLATE.txt").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    for placeholder, value in {
        '"<YOUR_APP_USERS_INSTAGRAM_USER_ID>"': f'"{IG_ID}"',
        "<TIME_NOTIFICATION_WAS_SENT>": "1700000000123",
        '"<SENDER_ID>"': f'"{PSID}"',
        '"<RECIPIENT_ID>"': f'"{IG_ID}"',
        "<TIME_WEBHOOK_WAS_TRIGGERED>": "1700000000456",
        "<MESSAGE_ID>": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx",
        "<MESSAGE_TEXT>": "Do you have it in blue?",
        "<ATTACHMENT_MEDIA_TYPE>": "image",
        "<URL_FOR_THE_MEDIA>": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1",
        "<QUICK_REPLY_OPTION_SELECTED>": "BLUE",
    }.items():
        body = body.replace(placeholder, value)
    return json.loads(body)


def test_instagram_template_shape() -> None:
    body = _template_instagram()
    assert ADAPTER.routing_keys(request(body)) == [IG_ID]
    [parsed] = parse(body, INSTAGRAM)
    # The template shows every field at once; a quick reply is what the customer did.
    assert parsed == InboundMessage(
        provider_message_id="aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx",
        sender=PSID,
        text="Do you have it in blue?",
        kind="interactive",
        payload={
            "interactive": {"type": "quick_reply", "id": "BLUE", "title": "Do you have it in blue?"},
            "raw": body["entry"][0]["messaging"][0]["message"],
        },
        timestamp=at(1700000000) + timedelta(milliseconds=456),
    )


def test_instagram_attachment_from_the_template() -> None:
    body = _template_instagram()
    message = body["entry"][0]["messaging"][0]["message"]
    del message["quick_reply"], message["text"]
    [parsed] = parse(body, INSTAGRAM)
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"
    assert (parsed.kind, parsed.text) == ("image", "")
    assert parsed.payload["media"] == {"id": None, "mime_type": None, "url": url}


def test_messenger_text_with_reply() -> None:
    message = {"mid": "m_1", "text": "hello", "reply_to": {"mid": "m_0"}}
    assert parse(messaging_webhook(fb_event(message=message)), MESSENGER) == [
        InboundMessage(
            "m_1",
            PSID,
            text="hello",
            kind="text",
            reply_to="m_0",
            timestamp=at(1700000000) + timedelta(0, 0, 123000),
        )
    ]


def test_messenger_attachments_become_one_message_each() -> None:
    attachments = [
        {"type": "image", "payload": {"url": "https://cdn/1.jpg"}},
        {"type": "file", "payload": {"url": "https://cdn/2.pdf"}},
        {"type": "image", "payload": {"url": "https://cdn/like.png", "sticker_id": 369239263222822}},
        {"type": "fallback", "payload": {"url": "https://example.com"}, "title": "a link"},
        {"type": "location", "title": "Home", "payload": {"coordinates": {"lat": 1.5, "long": 2.5}}},
    ]
    parsed = parse(messaging_webhook(fb_event(message={"mid": "m_2", "attachments": attachments})), MESSENGER)
    assert [(m.provider_message_id, m.kind) for m in parsed] == [
        ("m_2", "image"),
        ("m_2#1", "document"),
        ("m_2#2", "sticker"),
        ("m_2#3", "unsupported"),
        ("m_2#4", "location"),
    ]
    assert parsed[1].payload["media"] == {"id": None, "mime_type": None, "url": "https://cdn/2.pdf"}
    assert parsed[3].payload == {"raw": attachments[3]}
    assert parsed[4].payload["location"] == {"latitude": 1.5, "longitude": 2.5, "name": "Home"}


def test_messenger_postback() -> None:
    postback = {"title": "Book a table", "payload": "BOOK", "mid": "m_pb"}
    [parsed] = parse(messaging_webhook(fb_event(postback=postback)), MESSENGER)
    assert (parsed.provider_message_id, parsed.kind, parsed.text) == ("m_pb", "interactive", "Book a table")
    assert parsed.payload["interactive"] == {"type": "postback", "id": "BOOK", "title": "Book a table"}


def test_messenger_reaction() -> None:
    reaction = {"mid": "m_ours", "action": "react", "reaction": "love", "emoji": "\u2764"}
    [parsed] = parse(messaging_webhook(fb_event(reaction=reaction)), MESSENGER)
    assert (parsed.kind, parsed.text, parsed.sender) == ("reaction", "\u2764", PSID)
    assert parsed.payload["reaction"] == {"message_id": "m_ours", "emoji": "\u2764", "action": "react"}
    assert parsed.provider_message_id.startswith("meta-")


def test_messenger_echoes_are_skipped_and_routed_by_their_sender() -> None:
    echo = {"sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "message": {"mid": "m_e", "is_echo": True}}
    body = {"object": "page", "entry": [{"id": PAGE_ID, "messaging": [echo]}]}
    assert ADAPTER.routing_keys(request(body)) == [PAGE_ID]
    assert parse(body, MESSENGER) == []


def test_messenger_delivery_and_read() -> None:
    body = messaging_webhook(
        fb_event(delivery={"mids": ["m_a", "m_b"], "watermark": 1700000000000}),
        fb_event(read={"watermark": 1700000000000}),
        fb_event(read={"mid": "m_c"}),
    )
    when = at(1700000000) + timedelta(milliseconds=123)
    assert parse(body, MESSENGER) == [
        StatusUpdate("m_a", "delivered", timestamp=when),
        StatusUpdate("m_b", "delivered", timestamp=when),
        StatusUpdate("m_c", "read", timestamp=when),
    ]


def test_malformed_messenger_message_is_kept_as_unsupported() -> None:
    message = {"mid": "m_odd", "attachments": [{"payload": {}}]}
    [parsed] = parse(messaging_webhook(fb_event(message=message)), MESSENGER)
    assert (parsed.provider_message_id, parsed.kind, parsed.payload) == (
        "m_odd",
        "unsupported",
        {"raw": message},
    )


def test_unknown_messenger_events_are_kept_as_unsupported() -> None:
    event = fb_event(optin={"ref": "landing"})
    [parsed] = parse(messaging_webhook(event), MESSENGER)
    assert (parsed.kind, parsed.sender, parsed.payload) == ("unsupported", PSID, {"raw": event})


# --- routing and several channels in one webhook -------------------------------------------------------


def test_each_whatsapp_channel_gets_only_its_own_events() -> None:
    mine = whatsapp_webhook(wa_message("text", {"body": "for A"}))
    other = whatsapp_webhook(wa_message("text", {"body": "for B"}, id="wamid.B"), phone_id="999")
    body = {"object": mine["object"], "entry": mine["entry"] + other["entry"] + mine["entry"]}
    assert ADAPTER.routing_keys(request(body)) == [PHONE_ID, "999"]
    assert [m.text for m in parse(body)] == ["for A", "for A"]
    assert [m.text for m in parse(body, replace(WHATSAPP, routing_key="999"))] == ["for B"]


def test_each_page_gets_only_its_own_events() -> None:
    other_page = "106000000000002"
    first = messaging_webhook(fb_event(message={"mid": "m_A", "text": "A"}))
    second = messaging_webhook(fb_event(other_page, message={"mid": "m_B", "text": "B"}), entry_id=other_page)
    body = {"object": "page", "entry": first["entry"] + second["entry"]}
    assert ADAPTER.routing_keys(request(body)) == [PAGE_ID, other_page]
    assert [m.provider_message_id for m in parse(body, MESSENGER)] == ["m_A"]
    assert [m.provider_message_id for m in parse(body, replace(MESSENGER, routing_key=other_page))] == ["m_B"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"object": "user", "entry": []}', "unknown Meta webhook object 'user'"),
        (b'{"entry": []}', "unknown Meta webhook object None"),
        (b'{"object": "page", "entry": {"id": 1}}', "'entry' must be a list"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        ADAPTER.routing_keys(request(body))
    assert ADAPTER.parse(request(body), WHATSAPP) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
WA_FIELDS = [
    "id",
    "from",
    "type",
    "timestamp",
    "text",
    "image",
    "interactive",
    "context",
    "location",
    "contacts",
]
whatsapp_messages = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=5) | st.integers(),
        "from": st.sampled_from(["16315551181", "+44", "abc", ""]) | json_values,
        "type": st.sampled_from([*WA_FIELDS, "reaction", "button", "sticker", "unsupported"]) | json_values,
        "timestamp": st.sampled_from(["1700000000", "nan", "1e400", "-99999999999999"]) | json_values,
        **{name: json_values for name in WA_FIELDS[4:]},
        "reaction": json_values,
        "button": json_values,
    },
)
fuzzed_whatsapp = st.builds(
    lambda messages, statuses, contacts: {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "value": {
                            "metadata": {"phone_number_id": PHONE_ID},
                            "messages": messages,
                            "statuses": statuses,
                            "contacts": contacts,
                        }
                    }
                ]
            }
        ],
    },
    st.lists(whatsapp_messages | json_values, max_size=3),
    json_values,
    json_values,
)
fb_fields = ["message", "postback", "reaction", "delivery", "read", "optin"]
fuzzed_messaging = st.builds(
    lambda events, obj: {"object": obj, "entry": [{"id": PAGE_ID, "messaging": events}]},
    st.lists(
        st.fixed_dictionaries(
            {"recipient": st.just({"id": PAGE_ID})},
            optional={
                "sender": json_values,
                "timestamp": json_values,
                **dict.fromkeys(fb_fields, json_values),
            },
        )
        | json_values,
        max_size=3,
    ),
    st.sampled_from(["page", "instagram"]),
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_events(events: list[Any]) -> None:
    for event in events:
        assert isinstance(event, InboundMessage | StatusUpdate | UnattributedMessage)
        assert isinstance(event.provider_message_id, str) and event.provider_message_id
        if isinstance(event, UnattributedMessage):
            assert event.reason
        if isinstance(event, InboundMessage):
            assert event.sender and isinstance(event.text, str) and len(event.kind) <= 16


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()))
def test_random_bodies_raise_only_bad_request(body: bytes) -> None:
    try:
        ADAPTER.routing_keys(request(body))
    except BadRequest:
        pass
    _check_events(ADAPTER.parse(request(body), WHATSAPP))


@FUZZ
@given(st.sampled_from(["whatsapp_business_account", "page", "instagram"]), json_values)
def test_random_entries_never_raise(obj: str, entries: Any) -> None:
    body = request({"object": obj, "entry": entries if isinstance(entries, list) else [entries]})
    assert all(isinstance(key, str) for key in ADAPTER.routing_keys(body))
    _check_events(ADAPTER.parse(body, WHATSAPP))
    _check_events(ADAPTER.parse(body, MESSENGER))


@FUZZ
@given(fuzzed_whatsapp | fuzzed_messaging)
def test_fuzzed_events_never_raise(body: dict[str, Any]) -> None:
    raw = request(body)
    ADAPTER.routing_keys(raw)
    _check_events(ADAPTER.parse(raw, WHATSAPP))
    _check_events(ADAPTER.parse(raw, MESSENGER))


# --- signature and handshake -----------------------------------------------------------------------


def test_signature_accepted() -> None:
    body = (FIXTURES / "inbound_text.json").read_bytes()
    ADAPTER.verify(request(body, headers=signed(body)), WHATSAPP, CREDS)
    header = {"X-Hub-Signature-256": signed(body)["x-hub-signature-256"].upper().replace("SHA256", "sha256")}
    ADAPTER.verify(request(body, headers=header), WHATSAPP, CREDS)


@pytest.mark.parametrize(
    ("headers", "credentials", "message"),
    [
        ({}, CREDS, "without an X-Hub-Signature-256"),
        ({"x-hub-signature-256": "sha1=abc"}, CREDS, "must be 'sha256='"),
        ({"x-hub-signature-256": "sha256=" + "0" * 63}, CREDS, "must be 'sha256='"),
        (signed(b"{}", "another secret"), CREDS, "does not match"),
        (signed(b"{}"), {**CREDS, "app_secret": ""}, "has no app_secret"),
        (signed(b"{}"), {"access_token": "x"}, "has no app_secret"),
    ],
)
def test_signature_rejected(headers: dict[str, str], credentials: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSignature, match=message):
        ADAPTER.verify(request(b"{}", headers=headers), WHATSAPP, credentials)


def test_tampered_body_is_rejected() -> None:
    body = (FIXTURES / "inbound_text.json").read_bytes()
    tampered = body.replace(b"Body Text", b"Body Text!")
    with pytest.raises(InvalidSignature, match="does not match"):
        ADAPTER.verify(request(tampered, headers=signed(body)), WHATSAPP, CREDS)


def _handshake_request() -> RawRequest:
    text = (FIXTURES / "verification_handshake.txt").read_text()
    url = next(line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("GET "))
    return RawRequest("GET", url, {}, dict(parse_qsl(urlsplit(url).query)), b"")


def test_handshake_echoes_the_challenge() -> None:
    other = (replace(MESSENGER, channel_id="x"), {"verify_token": "something else"})
    response = ADAPTER.handshake(_handshake_request(), [other, (WHATSAPP, CREDS)])
    assert response is not None
    assert (response.status_code, response.body) == (200, b"1158201444")


def test_handshake_accepts_php_style_names() -> None:
    query = {"hub_mode": "subscribe", "hub_verify_token": "meatyhamhock", "hub_challenge": "42"}
    response = ADAPTER.handshake(RawRequest("GET", "/", {}, query, b""), [(WHATSAPP, CREDS)])
    assert response is not None and response.status_code == 200 and response.body == b"42"


@pytest.mark.parametrize(
    "channels",
    [
        [(WHATSAPP, {**CREDS, "verify_token": "nope"})],
        [(replace(WHATSAPP, active=False), CREDS)],
        [(replace(WHATSAPP, provider="twilio"), CREDS)],
        [(WHATSAPP, {**CREDS, "verify_token": ""})],
        [],
    ],
)
def test_handshake_refuses_unknown_tokens(channels: list[Any]) -> None:
    response = ADAPTER.handshake(_handshake_request(), channels)
    assert response is not None and response.status_code == 403


def test_handshake_needs_subscribe_mode_and_a_challenge() -> None:
    for query in ({"hub.mode": "unsubscribe", "hub.verify_token": "meatyhamhock", "hub.challenge": "1"}, {}):
        response = ADAPTER.handshake(RawRequest("GET", "/", {}, query, b""), [(WHATSAPP, CREDS)])
        assert response is not None and response.status_code == 403


def test_handshake_leaves_posts_alone() -> None:
    assert ADAPTER.handshake(request(b"{}"), [(WHATSAPP, CREDS)]) is None


# --- sending through the fake Graph API ------------------------------------------------------------


@pytest.fixture
async def http():  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, connect=1.0)) as client:
        yield client


def on(fake: FakeMetaGraph, channel: ChannelInfo = WHATSAPP, **settings: Any) -> ChannelInfo:
    return replace(channel, settings={"api_base_url": fake.base_url, "api_version": "v21.0", **settings})


def outbound(text: str = "Hi there", to: str = "+16505551234", **fields: Any) -> OutboundMessage:
    return OutboundMessage(
        id=1, tenant_id="t1", conversation_id="c1", channel_id="ch", to=to, text=text, **fields
    )


async def test_send_text(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    result = await ADAPTER.send(outbound(), on(fake_meta), CREDS, http)
    [sent] = fake_meta.sent
    assert sent.path == f"/v21.0/{PHONE_ID}/messages"
    assert sent.headers["authorization"] == f"Bearer {FakeMetaGraph.access_token}"
    expected = fixture("send_text_request.json")
    expected.update(to="16505551234", text={"preview_url": False, "body": "Hi there"})
    assert sent.json == expected
    assert result.status == "sent"
    assert result.provider_message_id and result.provider_message_id.startswith("wamid.FAKE")


async def test_send_ids_are_fresh(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    first = await ADAPTER.send(outbound(), on(fake_meta), CREDS, http)
    second = await ADAPTER.send(outbound(), on(fake_meta), CREDS, http)
    assert first.provider_message_id != second.provider_message_id


async def test_send_image_by_link(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    expected = fixture("send_image_by_link_request.json")
    media = {"type": "image", "url": expected["image"]["link"], "caption": expected["image"]["caption"]}
    await ADAPTER.send(outbound("", payload={"media": media}), on(fake_meta), CREDS, http)
    assert fake_meta.sent[0].json == {**expected, "to": "16505551234"}


async def test_send_media_uses_the_text_as_caption(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    media = {"type": "document", "url": "https://x/menu.pdf", "filename": "menu.pdf"}
    await ADAPTER.send(outbound("Our menu", payload={"media": media}), on(fake_meta), CREDS, http)
    doc = {"link": "https://x/menu.pdf", "caption": "Our menu", "filename": "menu.pdf"}
    assert fake_meta.sent[0].json["document"] == doc


async def test_send_buttons_with_reply_context(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    buttons = [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]
    msg = outbound("Confirm?", payload={"buttons": buttons, "reply_to": "wamid.IN"})
    await ADAPTER.send(msg, on(fake_meta), CREDS, http)
    body = fake_meta.sent[0].json
    assert body["type"] == "interactive"
    assert body["context"] == {"message_id": "wamid.IN"}
    assert body["interactive"] == {
        "type": "button",
        "body": {"text": "Confirm?"},
        "action": {"buttons": [{"type": "reply", "reply": b} for b in buttons]},
    }


async def test_send_list(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    sections = [{"title": "Mains", "rows": [{"id": "r1", "title": "Risotto", "description": "mushroom"}]}]
    msg = outbound("Pick one", payload={"list": {"button": "Menu", "sections": sections}})
    await ADAPTER.send(msg, on(fake_meta), CREDS, http)
    assert fake_meta.sent[0].json["interactive"] == {
        "type": "list",
        "body": {"text": "Pick one"},
        "action": {"button": "Menu", "sections": sections},
    }


async def test_send_template(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    components = [{"type": "body", "parameters": [{"type": "text", "text": "Kerry"}]}]
    template = {"name": "order_update", "language": "en_US", "components": components}
    old = datetime.now(UTC) - timedelta(days=3)
    result = await ADAPTER.send(
        outbound("", payload={"template": template}, last_inbound_at=old), on(fake_meta), CREDS, http
    )
    assert fake_meta.sent[0].json["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": components,
    }
    assert result.provider_message_id


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"buttons": [{"id": str(i), "title": str(i)} for i in range(4)]}, "1 to 3 reply buttons"),
        ({"buttons": [{"id": "a"}]}, "needs an 'id' and a 'title'"),
        ({"media": {"type": "gif", "url": "u"}}, "media type must be one of"),
        ({"media": {"type": "image"}}, "needs a 'url'"),
        ({"template": {"name": "x"}}, "needs a 'name' and a 'language'"),
        ({"list": {"button": "Menu"}}, "needs 'button'"),
    ],
)
async def test_invalid_payloads_fail_before_any_request(
    fake_meta: FakeMetaGraph,
    http: httpx.AsyncClient,
    payload: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(PermanentDelivery, match=message):
        await ADAPTER.send(outbound(payload=payload), on(fake_meta), CREDS, http)
    assert fake_meta.requests == []


async def test_window_still_open_sends_free_form(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    recent = datetime.now(UTC) - timedelta(hours=23)
    await ADAPTER.send(outbound(last_inbound_at=recent), on(fake_meta), CREDS, http)
    assert fake_meta.sent[0].json["type"] == "text"


async def test_closed_window_sends_the_reengagement_template(
    fake_meta: FakeMetaGraph, http: httpx.AsyncClient
) -> None:
    templates = {"reengagement": {"name": "hello_again", "language": "en"}}
    channel = on(fake_meta, templates=templates)
    stale = (datetime.now(UTC) - timedelta(hours=25)).replace(tzinfo=None)  # naive means UTC
    msg = outbound(payload={"reply_to": "wamid.IN"}, last_inbound_at=stale)
    result = await ADAPTER.send(msg, channel, CREDS, http)
    body = fake_meta.sent[0].json
    assert body["type"] == "template" and "context" not in body
    assert body["template"] == {"name": "hello_again", "language": {"code": "en"}}
    assert result.status == "sent" and result.provider_message_id


async def test_closed_window_without_template_fails(
    fake_meta: FakeMetaGraph, http: httpx.AsyncClient
) -> None:
    stale = datetime.now(UTC) - timedelta(hours=25)
    with pytest.raises(PermanentDelivery, match="24-hour customer service window") as failure:
        await ADAPTER.send(outbound(last_inbound_at=stale), on(fake_meta), CREDS, http)
    assert failure.value.provider_code == "131047"
    assert fake_meta.requests == []


async def test_messenger_send_text_with_quick_replies(
    fake_meta: FakeMetaGraph, http: httpx.AsyncClient
) -> None:
    msg = outbound("Size?", to=PSID, payload={"buttons": [{"id": "S", "title": "Small"}]})
    result = await ADAPTER.send(msg, on(fake_meta, MESSENGER), CREDS, http)
    [sent] = fake_meta.sent
    assert sent.path == f"/v21.0/{PAGE_ID}/messages"
    assert sent.headers["authorization"] == f"Bearer {FakeMetaGraph.access_token}"
    assert sent.json == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {
            "text": "Size?",
            "quick_replies": [{"content_type": "text", "title": "Small", "payload": "S"}],
        },
    }
    assert result.provider_message_id and result.provider_message_id.startswith("m_fake")


async def test_instagram_send_media_and_list(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    channel = on(fake_meta, INSTAGRAM)
    media = {"type": "document", "url": "https://x/menu.pdf"}
    await ADAPTER.send(outbound("", to=PSID, payload={"media": media}), channel, CREDS, http)
    sections = [{"rows": [{"id": "a", "title": "A"}]}, {"rows": [{"id": "b", "title": "B"}]}]
    await ADAPTER.send(
        outbound("Pick", to=PSID, payload={"list": {"sections": sections}}), channel, CREDS, http
    )
    first, second = fake_meta.sent
    assert first.path == f"/v21.0/{IG_ID}/messages"
    assert first.json["message"] == {
        "attachment": {"type": "file", "payload": {"url": "https://x/menu.pdf", "is_reusable": True}}
    }
    assert [reply["payload"] for reply in second.json["message"]["quick_replies"]] == ["a", "b"]


async def test_messenger_has_no_templates(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    msg = outbound(to=PSID, payload={"template": {"name": "x", "language": "en"}})
    with pytest.raises(PermanentDelivery, match="WhatsApp only"):
        await ADAPTER.send(msg, on(fake_meta, MESSENGER), CREDS, http)


# --- errors -----------------------------------------------------------------------------------------------


async def _send_error(fake: FakeMetaGraph, http: httpx.AsyncClient) -> Any:
    with pytest.raises((RetryableDelivery, PermanentDelivery)) as failure:
        await ADAPTER.send(outbound(), on(fake), CREDS, http)
    return failure.value


async def test_server_error_is_retryable(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=500)
    error = await _send_error(fake_meta, http)
    assert isinstance(error, RetryableDelivery) and error.provider_code == "2" and error.retry_after is None
    assert "HTTP 500" in error.message
    assert (await ADAPTER.send(outbound(), on(fake_meta), CREDS, http)).provider_message_id  # then it works


async def test_rate_limit_is_retryable_after(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=429, retry_after=7)
    error = await _send_error(fake_meta, http)
    assert isinstance(error, RetryableDelivery)
    assert (error.provider_code, error.retry_after) == ("130429", 7.0)


@pytest.mark.parametrize("code", [130429, 131056, 4, 80007, 613, 1, 2])
async def test_throttling_codes_are_retryable(
    fake_meta: FakeMetaGraph, http: httpx.AsyncClient, code: int
) -> None:
    fake_meta.fail_next(error_code=code, status=400)
    error = await _send_error(fake_meta, http)
    assert isinstance(error, RetryableDelivery) and error.provider_code == str(code)


async def test_timeout_is_retryable(fake_meta: FakeMetaGraph) -> None:
    fake_meta.fail_next(timeout=True, delay=3)
    async with httpx.AsyncClient(timeout=0.3) as http:
        error = await _send_error(fake_meta, http)
    assert isinstance(error, RetryableDelivery) and "ReadTimeout" in error.message


async def test_unreachable_api_is_retryable(http: httpx.AsyncClient) -> None:
    with FakeMetaGraph().running() as fake:
        channel = on(fake)
    with pytest.raises(RetryableDelivery, match="unreachable"):
        await ADAPTER.send(outbound(), channel, CREDS, http)


async def test_unusable_base_url_needs_attention(http: httpx.AsyncClient) -> None:
    channel = replace(WHATSAPP, settings={"api_base_url": "graph.example.com"})
    with pytest.raises(PermanentDelivery, match="api_base_url") as failure:
        await ADAPTER.send(outbound(), channel, CREDS, http)
    assert failure.value.needs_attention


async def test_recipient_not_allowed_is_permanent(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=400, body=fixture("error_131030_recipient_not_allowed.json"))
    error = await _send_error(fake_meta, http)
    assert isinstance(error, PermanentDelivery) and not error.needs_attention
    assert error.provider_code == "131030"
    assert "(#131030) Recipient phone number not in allowed list" in error.message
    assert "not whitelisted" in error.message


@pytest.mark.parametrize("code", [131047, 131026, 100])
async def test_refusals_are_permanent(fake_meta: FakeMetaGraph, http: httpx.AsyncClient, code: int) -> None:
    fake_meta.fail_next(error_code=code)
    error = await _send_error(fake_meta, http)
    assert (
        isinstance(error, PermanentDelivery)
        and error.provider_code == str(code)
        and not error.needs_attention
    )


async def test_expired_token_needs_attention(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=401, body=fixture("error_190_expired_token.json"))
    error = await _send_error(fake_meta, http)
    assert isinstance(error, PermanentDelivery) and error.needs_attention and error.provider_code == "190"
    assert "Session has expired" in error.message


async def test_wrong_token_needs_attention(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDelivery) as failure:
        await ADAPTER.send(outbound(), on(fake_meta), {**CREDS, "access_token": "stale"}, http)
    assert failure.value.needs_attention and failure.value.provider_code == "190"


async def test_missing_token_needs_attention(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDelivery, match="no access_token") as failure:
        await ADAPTER.send(outbound(), on(fake_meta), {"app_secret": SECRET}, http)
    assert failure.value.needs_attention and fake_meta.requests == []


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


def test_classify_without_a_graph_error_body() -> None:
    error = classify(_response(502, b"<html>proxy page of some host</html>"))
    assert isinstance(error, RetryableDelivery) and error.provider_code is None
    assert error.message == "Graph API HTTP 502: Bad Gateway"  # the status, never a raw body
    assert isinstance(classify(_response(404, b"")), PermanentDelivery)
    forbidden = classify(_response(403, {"error": {"message": "no", "type": "OAuthException", "code": 200}}))
    assert isinstance(forbidden, PermanentDelivery) and forbidden.needs_attention


def test_retry_after_as_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=90)
    error = classify(_response(429, {}, {"Retry-After": format_datetime(later, usegmt=True)}))
    assert isinstance(error, RetryableDelivery) and error.retry_after is not None
    assert 80 <= error.retry_after <= 91
    assert classify(_response(429, {}, {"Retry-After": "soon"})).retry_after is None  # type: ignore[attr-defined]


# --- mark as read, media --------------------------------------------------------------------------------


async def test_mark_read(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    await ADAPTER.mark_read("wamid.IN", on(fake_meta), CREDS, http)
    assert fake_meta.read_receipts == ["wamid.IN"] and fake_meta.sent == []
    [sent] = fake_meta.requests
    assert sent.path == f"/v21.0/{PHONE_ID}/messages"
    assert sent.headers["authorization"] == f"Bearer {FakeMetaGraph.access_token}"
    assert sent.json == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}


async def test_mark_read_errors_are_raised(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=503, receipts=True)
    with pytest.raises(RetryableDelivery):
        await ADAPTER.mark_read("wamid.IN", on(fake_meta), CREDS, http)


async def test_mark_read_is_whatsapp_only(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    await ADAPTER.mark_read("m_1", on(fake_meta, MESSENGER), CREDS, http)
    assert fake_meta.requests == []


async def test_media_source_looks_up_and_downloads(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    fake_meta.add_media("65463453", b"\xff\xd8jpeg bytes", "image/jpeg")
    [inbound] = parse(fixture("inbound_image.json"))
    source = await ADAPTER.media_source(inbound.payload, on(fake_meta), CREDS, http)
    assert source.url == f"{fake_meta.base_url}/media-bytes/65463453"
    assert source.content_type == "image/jpeg"
    lookup = fake_meta.requests[0]
    assert (lookup.method, lookup.path) == ("GET", "/v21.0/65463453")
    assert lookup.headers["authorization"] == f"Bearer {FakeMetaGraph.access_token}"
    download = await http.get(source.url, headers=source.headers)
    assert (download.status_code, download.content) == (200, b"\xff\xd8jpeg bytes")
    assert (await http.get(source.url)).status_code == 401


async def test_media_source_of_unknown_media(fake_meta: FakeMetaGraph, http: httpx.AsyncClient) -> None:
    payload = {"media": {"id": "404404", "mime_type": "image/png"}}
    with pytest.raises(NotFound, match="404404"):
        await ADAPTER.media_source(payload, on(fake_meta), CREDS, http)
    fake_meta.fail_next(status=400, error_code=100, subcode=33)
    with pytest.raises(NotFound):
        await ADAPTER.media_source(payload, on(fake_meta), CREDS, http)
    fake_meta.fail_next(status=500)
    with pytest.raises(RetryableDelivery):
        await ADAPTER.media_source(payload, on(fake_meta), CREDS, http)


async def test_media_source_with_a_url_in_the_payload(http: httpx.AsyncClient) -> None:
    [inbound] = parse(fixture("inbound_image_with_url.json"))
    source = await ADAPTER.media_source(inbound.payload, WHATSAPP, CREDS, http)
    assert source.url == inbound.payload["media"]["url"]
    assert source.headers == {"Authorization": f"Bearer {FakeMetaGraph.access_token}"}
    assert source.content_type == "image/jpeg"
    cdn = {"media": {"id": None, "mime_type": None, "url": "https://cdn.fbsbx.com/x.jpg"}}
    assert (await ADAPTER.media_source(cdn, MESSENGER, CREDS, http)).headers == {}


async def test_the_token_never_goes_to_a_foreign_host(
    fake_meta: FakeMetaGraph, http: httpx.AsyncClient
) -> None:
    fake_meta.add_media("77", b"png", "image/png")
    forged = {
        "media": {"id": "77", "mime_type": "image/png", "url": "https://lookaside.fbsbx.com.evil.example/x"}
    }
    source = await ADAPTER.media_source(forged, on(fake_meta), CREDS, http)
    assert source.url == f"{fake_meta.base_url}/media-bytes/77"  # looked up by id instead
    own = {"media": {"id": "77", "mime_type": "image/png", "url": f"{fake_meta.base_url}/media-bytes/77"}}
    assert (await ADAPTER.media_source(own, on(fake_meta), CREDS, http)).url == own["media"]["url"]
    assert len(fake_meta.requests) == 1


async def test_media_source_without_media(http: httpx.AsyncClient) -> None:
    for payload in ({}, {"media": "x"}, {"media": {"id": None}}):
        with pytest.raises(NotFound):
            await ADAPTER.media_source(payload, WHATSAPP, CREDS, http)
