from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from frontdesk.channels.base import RawRequest
from frontdesk.channels.twilio import TwilioAdapter, twilio_signature
from frontdesk.channels.twilio_parse import CallEvent
from frontdesk.errors import BadRequest, InvalidSignature, NotFound, PermanentDelivery, RetryableDelivery
from frontdesk.model.messages import InboundMessage, OutboundMessage, StatusUpdate, UnattributedMessage
from frontdesk.model.routing import ChannelInfo
from tests.fakes.server import run_app
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, post_signed

FIXTURES = Path(__file__).parents[2] / "fixtures" / "providers" / "twilio"
PUBLIC_URL = "https://fd.example.com"
WEBHOOK_URL = f"{PUBLIC_URL}/webhooks/twilio"
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}

adapter = TwilioAdapter(public_url=PUBLIC_URL)


def channel(channel_type: str = "sms", **settings: object) -> ChannelInfo:
    return ChannelInfo(
        channel_id=f"tw_{channel_type}",
        tenant_id="default",
        channel_type=channel_type,
        provider="twilio",
        routing_key="+14123456789",
        phone_number="+14123456789",
        active=True,
        settings=dict(settings),
    )


def form_request(body: str, url: str = WEBHOOK_URL, signature: str | None = None) -> RawRequest:
    headers = dict(FORM_HEADERS)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    form = dict(parse_qsl(body, keep_blank_values=True))
    return RawRequest("POST", url, headers, {}, body.encode(), form)


def fixture_request(name: str) -> RawRequest:
    text = (FIXTURES / name).read_text().strip()
    if name.endswith(".json"):
        return RawRequest("POST", WEBHOOK_URL, {"content-type": "application/json"}, {}, text.encode())
    return form_request(text)


def voice_body() -> str:
    lines = (FIXTURES / "voice_gather_speech.txt").read_text().splitlines()
    return next(line for line in lines if line.startswith("CallSid="))


# --- parsing the published payloads --------------------------------------------------------------


def test_whatsapp_text() -> None:
    req = fixture_request("inbound_whatsapp_text.form")
    assert adapter.routing_keys(req) == ["+14123456789"]
    assert adapter.parse(req, channel("whatsapp")) == [
        InboundMessage(
            provider_message_id="SM892512e202b34d4109b10a3893fa9640", sender="+31612345678", text="test"
        )
    ]


def test_whatsapp_image() -> None:
    req = fixture_request("inbound_whatsapp_image.form")
    url = (
        "https://api.twilio.com/2010-04-01/Accounts/AC1a03647d811fab342c0ad608e382fab2/Messages/"
        "MM21151abfaadc1fb79b782f8460862a52/Media/ME5f0afa2336bd0f73ca553fb5a2e3150bc"
    )
    assert adapter.routing_keys(req) == ["+14123456789"]
    assert adapter.parse(req, channel("whatsapp")) == [
        InboundMessage(
            provider_message_id="MM21151abfaadc1fb79b782f8460862a52",
            sender="+31612345678",
            text="",
            kind="image",
            payload={
                "media": {"url": url, "mime_type": "image/jpeg", "caption": ""},
                "media_items": [{"url": url, "mime_type": "image/jpeg"}],
            },
        )
    ]


def test_whatsapp_location() -> None:
    req = fixture_request("inbound_whatsapp_location.form")
    assert adapter.parse(req, channel("whatsapp")) == [
        InboundMessage(
            provider_message_id="SM9c871cd9649aa3829298e153ae6a8123",
            sender="+31612345678",
            text="",
            kind="location",
            payload={
                "location": {
                    "latitude": 52.303897857666016,
                    "longitude": 4.750025749206543,
                    "name": "Microsoft",
                    "address": "Evert van de Beekstraat 354, Schiphol, North Holland 1118 CZ",
                }
            },
        )
    ]


@pytest.mark.parametrize(
    ("name", "sid", "status"),
    [
        ("status_whatsapp_sent.form", "SM0cec4ed334e74bcbb64eb8b6684e9654", "sent"),
        ("status_whatsapp_delivered.form", "SMdf55df64a2ff4920bb0748193cfbb640", "delivered"),
        ("status_sms_sent_docs_example.json", "SM1342fe1b2c904d1ab04f0fc7a58abca9", "sent"),
    ],
)
def test_status_callbacks(name: str, sid: str, status: str) -> None:
    req = fixture_request(name)
    assert adapter.parse(req, channel()) == [StatusUpdate(provider_message_id=sid, status=status)]


def test_status_callbacks_route_by_our_number_which_is_their_from() -> None:
    assert adapter.routing_keys(fixture_request("status_whatsapp_delivered.form")) == ["+14123456789"]
    assert adapter.routing_keys(fixture_request("status_sms_sent_docs_example.json")) == ["+15017250604"]


def test_voice_gather_result() -> None:
    req = form_request(voice_body())
    assert adapter.routing_keys(req) == ["+18005551212"]
    assert adapter.parse_call(req) == CallEvent(
        call_sid="CA1234567890ABCDE",
        from_="+14158675309",
        to="+18005551212",
        speech_result="I want to check my order status.",
        confidence=0.92,
        call_status="in-progress",
        digits=None,
    )
    assert adapter.parse(req, channel("voice")) == []  # calls are the voice endpoint's business


def test_parse_call_without_call_sid_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="CallSid"):
        adapter.parse_call(form_request("From=%2B14158675309"))


# --- parsing what the fixtures do not show -------------------------------------------------------

BASE = {"MessageSid": "SM1", "From": "+14155550100", "To": "+14123456789", "SmsStatus": "received"}


def parse_form(**fields: str) -> list:
    return adapter.parse(form_request(urlencode({**BASE, **fields})), channel())


def test_sms_with_profile_name_and_reply_context() -> None:
    [msg] = parse_form(Body="hi", ProfileName="Ana", OriginalRepliedMessageSid="SM0")
    assert (msg.text, msg.sender_name, msg.reply_to, msg.kind) == ("hi", "Ana", "SM0", "text")


def test_button_reply_is_interactive() -> None:
    [msg] = parse_form(Body="Yes please", ButtonText="Yes please", ButtonPayload="confirm_yes")
    assert (msg.kind, msg.text) == ("interactive", "Yes please")
    assert msg.payload == {"interactive": {"type": "button", "id": "confirm_yes", "title": "Yes please"}}


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("audio/ogg", "audio"),
        ("video/mp4", "video"),
        ("application/pdf", "document"),
        ("text/vcard", "document"),
    ],
)
def test_media_kinds(mime: str, kind: str) -> None:
    [msg] = parse_form(Body="see", NumMedia="1", MediaUrl0="https://m/0", MediaContentType0=mime)
    assert msg.kind == kind
    assert msg.payload["media"] == {"url": "https://m/0", "mime_type": mime, "caption": "see"}


def test_every_media_item_is_kept() -> None:
    [msg] = parse_form(
        Body="",
        NumMedia="2",
        MediaUrl0="https://m/0",
        MediaContentType0="image/png",
        MediaUrl1="https://m/1",
        MediaContentType1="application/pdf",
    )
    assert msg.kind == "image"
    assert msg.payload["media_items"] == [
        {"url": "https://m/0", "mime_type": "image/png"},
        {"url": "https://m/1", "mime_type": "application/pdf"},
    ]


def test_empty_message_is_unsupported_and_keeps_the_raw_form() -> None:
    [msg] = parse_form(Body="")
    assert msg.kind == "unsupported"
    assert msg.payload == {"raw": {**BASE, "Body": ""}}


def test_failed_status_carries_the_error() -> None:
    [update] = parse_form(MessageStatus="undelivered", ErrorCode="30003")
    assert update == StatusUpdate("SM1", "failed", "30003", "Unreachable destination handset")
    [update] = parse_form(MessageStatus="failed", ErrorCode="30410", ErrorMessage="Provider timeout")
    assert (update.error_code, update.error_title) == ("30410", "Provider timeout")


@pytest.mark.parametrize("status", ["queued", "accepted", "scheduled", "sending"])
def test_statuses_before_sending_are_ignored(status: str) -> None:
    assert parse_form(MessageStatus=status) == []


def test_callbacks_carrying_only_sms_status() -> None:
    assert parse_form(SmsStatus="delivered") == [StatusUpdate("SM1", "delivered")]


def test_json_nulls_read_as_empty() -> None:
    body = json.dumps({**BASE, "Body": "hi", "ProfileName": None, "NumMedia": 0}).encode()
    [msg] = adapter.parse(
        RawRequest("POST", WEBHOOK_URL, {"content-type": "application/json"}, {}, body), channel()
    )
    assert (msg.text, msg.sender_name, msg.kind) == ("hi", None, "text")


def test_read_status() -> None:
    assert parse_form(MessageStatus="read") == [StatusUpdate("SM1", "read")]


def test_routing_key_without_to_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="'To'"):
        adapter.routing_keys(form_request("MessageSid=SM1&From=%2B14155550100&Body=hi"))


# --- signatures ----------------------------------------------------------------------------------

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
VECTOR_TOKEN = "12345"


def test_published_vector() -> None:
    text = (FIXTURES / "signature_vectors.txt").read_text()
    assert VECTOR_SIGNATURE in text and VECTOR_URL in text  # the vector is the fixture's
    assert twilio_signature(VECTOR_URL, VECTOR_PARAMS, VECTOR_TOKEN) == VECTOR_SIGNATURE
    req = form_request(urlencode(VECTOR_PARAMS), VECTOR_URL, VECTOR_SIGNATURE)
    adapter.verify(req, channel(), {"auth_token": VECTOR_TOKEN})


def test_verify_reads_the_form_when_the_body_is_absent() -> None:
    req = RawRequest("POST", VECTOR_URL, {"X-Twilio-Signature": VECTOR_SIGNATURE}, {}, b"", VECTOR_PARAMS)
    adapter.verify(req, channel(), {"auth_token": VECTOR_TOKEN})


@pytest.mark.parametrize("name", sorted(VECTOR_PARAMS))
def test_tampered_param_fails(name: str) -> None:
    tampered = {**VECTOR_PARAMS, name: VECTOR_PARAMS[name] + "9"}
    req = form_request(urlencode(tampered), VECTOR_URL, VECTOR_SIGNATURE)
    with pytest.raises(InvalidSignature, match="does not match"):
        adapter.verify(req, channel(), {"auth_token": VECTOR_TOKEN})


@pytest.mark.parametrize(
    "body",
    [
        urlencode({**VECTOR_PARAMS, "Body": "extra"}),
        urlencode({k: v for k, v in VECTOR_PARAMS.items() if k != "To"}),
    ],
)
def test_added_or_removed_param_fails(body: str) -> None:
    with pytest.raises(InvalidSignature):
        adapter.verify(
            form_request(body, VECTOR_URL, VECTOR_SIGNATURE), channel(), {"auth_token": VECTOR_TOKEN}
        )


@pytest.mark.parametrize(
    ("url", "token"),
    [
        (VECTOR_URL.replace("foo=1", "foo=2"), VECTOR_TOKEN),
        ("https://evil.example/myapp.php?foo=1&bar=2", VECTOR_TOKEN),
        (VECTOR_URL, "54321"),
    ],
)
def test_other_url_or_token_fails(url: str, token: str) -> None:
    req = form_request(urlencode(VECTOR_PARAMS), url, VECTOR_SIGNATURE)
    with pytest.raises(InvalidSignature):
        adapter.verify(req, channel(), {"auth_token": token})


def test_missing_signature_or_token_fails() -> None:
    with pytest.raises(InvalidSignature, match="missing X-Twilio-Signature"):
        adapter.verify(form_request(urlencode(VECTOR_PARAMS), VECTOR_URL), channel(), {"auth_token": "12345"})
    with pytest.raises(InvalidSignature, match="no Twilio auth_token"):
        adapter.verify(form_request(urlencode(VECTOR_PARAMS), VECTOR_URL, VECTOR_SIGNATURE), channel(), {})


@pytest.mark.parametrize(
    ("signed_url", "request_url"),
    [
        ("https://mycompany.com:443/myapp.php?foo=1", "https://mycompany.com/myapp.php?foo=1"),
        ("https://mycompany.com/myapp.php?foo=1", "https://mycompany.com:443/myapp.php?foo=1"),
        ("http://mycompany.com:80/hook", "http://mycompany.com/hook"),
        ("http://mycompany.com/hook", "http://mycompany.com:80/hook"),
    ],
)
def test_default_port_may_or_may_not_be_signed(signed_url: str, request_url: str) -> None:
    body = urlencode(VECTOR_PARAMS)
    signature = twilio_signature(signed_url, VECTOR_PARAMS, VECTOR_TOKEN)
    adapter.verify(form_request(body, request_url, signature), channel(), {"auth_token": VECTOR_TOKEN})


def test_other_ports_are_part_of_the_url() -> None:
    signature = twilio_signature("https://mycompany.com:8443/hook", VECTOR_PARAMS, VECTOR_TOKEN)
    req = form_request(urlencode(VECTOR_PARAMS), "https://mycompany.com/hook", signature)
    with pytest.raises(InvalidSignature):
        adapter.verify(req, channel(), {"auth_token": VECTOR_TOKEN})


def test_repeated_params_are_signed_with_sorted_values() -> None:
    body = "To=%2B1&MediaUrl=b&MediaUrl=a"
    signature = twilio_signature(WEBHOOK_URL, [("To", "+1"), ("MediaUrl", "a"), ("MediaUrl", "b")], "tok")
    # By hand, as twilio-python builds the string: names sorted, each name's values sorted.
    expected = hmac.new(b"tok", (WEBHOOK_URL + "MediaUrlaMediaUrlbTo+1").encode(), hashlib.sha1).digest()
    assert signature == base64.b64encode(expected).decode()
    adapter.verify(form_request(body, signature=signature), channel(), {"auth_token": "tok"})


def json_request(body: bytes, body_hash: str | None = None, token: str = "tok") -> RawRequest:
    url = f"{WEBHOOK_URL}?bodySHA256={body_hash or hashlib.sha256(body).hexdigest()}"
    headers = {"content-type": "application/json", "X-Twilio-Signature": twilio_signature(url, {}, token)}
    return RawRequest("POST", url, headers, {}, body)


def test_json_body_is_signed_through_its_hash() -> None:
    body = json.dumps({"MessageSid": "SM1", "MessageStatus": "delivered", "From": "+14123456789"}).encode()
    adapter.verify(json_request(body), channel(), {"auth_token": "tok"})


def test_json_body_that_does_not_match_its_hash_fails() -> None:
    body = b'{"MessageStatus": "delivered"}'
    req = json_request(body, body_hash=hashlib.sha256(b'{"MessageStatus": "failed"}').hexdigest())
    with pytest.raises(InvalidSignature, match="bodySHA256"):
        adapter.verify(req, channel(), {"auth_token": "tok"})


def test_json_body_without_hash_fails() -> None:
    body = b'{"MessageStatus": "delivered"}'
    headers = {
        "content-type": "application/json",
        "X-Twilio-Signature": twilio_signature(WEBHOOK_URL, {}, "tok"),
    }
    with pytest.raises(InvalidSignature, match="bodySHA256"):
        adapter.verify(RawRequest("POST", WEBHOOK_URL, headers, {}, body), channel(), {"auth_token": "tok"})


FORMS = st.dictionaries(
    st.sampled_from(
        [
            *BASE,
            "Body",
            "NumMedia",
            "MediaUrl0",
            "Latitude",
            "Longitude",
            "MessageStatus",
            "ErrorCode",
            "ButtonText",
            "CallSid",
            "Confidence",
        ]
    )
    | st.text(max_size=12),
    # Random text, and values Twilio sends, so that messages and statuses come out too.
    st.text(max_size=30)
    | st.sampled_from(
        [
            "SM1",
            "+14155550100",
            "whatsapp:+14155550100",
            "whatsapp:",
            "received",
            "delivered",
            "undelivered",
            "2",
            "image/jpeg",
            "https://api.twilio.com/media/ME1",
            "48.85",
        ]
    ),
    max_size=12,
)
# Forms that name a message, so that parse has one to read (or a status of one).
MESSAGE_FORMS = st.builds(
    lambda form, sid: {**form, "MessageSid": sid}, FORMS, st.text(min_size=1, max_size=34)
)


def test_a_message_from_an_empty_whatsapp_address_is_kept_unattributed() -> None:
    adapter = TwilioAdapter()
    req = form_request(urlencode({"MessageSid": "SM1", "From": "whatsapp:", "To": "whatsapp:+14123456789"}))
    [event] = adapter.parse(req, channel("whatsapp"))
    assert isinstance(event, UnattributedMessage)
    assert (event.provider_message_id, event.reason) == ("SM1", "the message names no sender (no From)")


SID_FIELDS = ("MessageSid", "SmsMessageSid", "SmsSid")
KINDS = {"text", "image", "audio", "video", "document", "location", "interactive", "unsupported"}


def _check_events(events: list[Any], fields: dict[str, str] | None = None) -> None:
    """At most one event, of the message the webhook names (none without a message sid), well formed."""
    assert isinstance(events, list) and len(events) <= 1
    for event in events:
        assert isinstance(event, InboundMessage | StatusUpdate | UnattributedMessage)
        assert isinstance(event.provider_message_id, str) and event.provider_message_id
        if isinstance(event, UnattributedMessage):
            assert event.reason
        if isinstance(event, StatusUpdate):
            assert event.status in {"sent", "delivered", "read", "failed"}
        if isinstance(event, InboundMessage):
            assert event.sender and isinstance(event.text, str) and len(event.kind) <= 16
            assert event.kind in KINDS
    if fields is not None:
        sid = next((fields[name] for name in SID_FIELDS if fields.get(name)), "")
        if not sid:
            assert events == []
        assert all(event.provider_message_id == sid for event in events)


@settings(max_examples=300, deadline=None)
@given(FORMS | MESSAGE_FORMS, st.text(max_size=40))
def test_random_forms_never_break_parse_nor_pass_verify(form: dict[str, str], signature: str) -> None:
    req = form_request(urlencode(form), signature=signature)
    _check_events(adapter.parse(req, channel()), req.form)
    _check_events(adapter.parse(RawRequest("POST", WEBHOOK_URL, {}, {}, b"", form), channel()), form)
    with pytest.raises(InvalidSignature):
        adapter.verify(req, channel(), {"auth_token": AUTH_TOKEN})
    signed = form_request(urlencode(form), signature=twilio_signature(WEBHOOK_URL, form, AUTH_TOKEN))
    adapter.verify(signed, channel(), {"auth_token": AUTH_TOKEN})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.text(max_size=60))
def test_random_bodies_never_break_parse(body: bytes, content_type: str) -> None:
    req = RawRequest("POST", WEBHOOK_URL, {"content-type": content_type}, {}, body)
    _check_events(adapter.parse(req, channel()))


# --- sending through the fake Twilio -------------------------------------------------------------


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(hang_seconds=0.6)
    with run_app(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def fake(twilio_server: tuple[FakeTwilio, str]) -> FakeTwilio:
    twilio_server[0].reset()
    return twilio_server[0]


@pytest.fixture
def base_url(twilio_server: tuple[FakeTwilio, str]) -> str:
    return twilio_server[1]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=0.3) as client:
        yield client


CREDENTIALS = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def outbound(text: str = "Hello!", **fields: object) -> OutboundMessage:
    values: dict = {"to": "+31612345678", "payload": {}, **fields}
    return OutboundMessage(
        id=1, tenant_id="default", conversation_id="c1", channel_id="tw", text=text, **values
    )


async def test_send_sms(fake: FakeTwilio, base_url: str, http: httpx.AsyncClient) -> None:
    result = await adapter.send(outbound(), channel(api_base_url=base_url), CREDENTIALS, http)
    [req] = fake.requests
    assert (req.method, req.path, req.auth, req.answered) == (
        "POST",
        MESSAGES_PATH,
        (ACCOUNT_SID, AUTH_TOKEN),
        201,
    )
    assert req.form == {
        "To": "+31612345678",
        "From": "+14123456789",
        "Body": "Hello!",
        "StatusCallback": "https://fd.example.com/webhooks/twilio",
    }
    assert result.provider_message_id in fake.sent and result.status == "sent"


async def test_send_whatsapp_with_media(fake: FakeTwilio, base_url: str, http: httpx.AsyncClient) -> None:
    msg = outbound(
        "Here is the photo", to="whatsapp:+31612345678", payload={"media": {"url": "https://x/p.jpg"}}
    )
    await adapter.send(msg, channel("whatsapp", api_base_url=base_url), CREDENTIALS, http)
    assert fake.requests[0].form == {
        "To": "whatsapp:+31612345678",
        "From": "whatsapp:+14123456789",
        "Body": "Here is the photo",
        "MediaUrl": "https://x/p.jpg",
        "StatusCallback": "https://fd.example.com/webhooks/twilio",
    }


async def test_send_through_a_messaging_service(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    ch = channel(api_base_url=base_url, messaging_service_sid="MG" + "b" * 32)
    await TwilioAdapter().send(outbound(), ch, CREDENTIALS, http)
    assert fake.requests[0].form == {
        "To": "+31612345678",
        "MessagingServiceSid": "MG" + "b" * 32,
        "Body": "Hello!",
    }


async def test_nothing_to_send_is_permanent(fake: FakeTwilio, base_url: str, http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDelivery, match="neither text nor media"):
        await adapter.send(outbound(""), channel(api_base_url=base_url), CREDENTIALS, http)
    assert fake.requests == []


async def test_voice_channels_speak_replies_instead_of_sending(
    fake: FakeTwilio, http: httpx.AsyncClient
) -> None:
    result = await adapter.send(outbound(), channel("voice"), CREDENTIALS, http)
    assert (result.provider_message_id, fake.requests) == (None, [])


# --- the WhatsApp 24-hour window -----------------------------------------------------------------

TEMPLATE = {"content_sid": "HX" + "c" * 32, "content_variables": {"1": "Ana"}}


async def test_outside_window_sends_the_reengagement_template(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    ch = channel("whatsapp", api_base_url=base_url, templates={"reengagement": TEMPLATE})
    msg = outbound(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
    await adapter.send(msg, ch, CREDENTIALS, http)
    form = fake.requests[0].form
    assert (form["ContentSid"], json.loads(form["ContentVariables"])) == (
        TEMPLATE["content_sid"],
        {"1": "Ana"},
    )
    assert "Body" not in form


async def test_outside_window_without_template_fails(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    msg = outbound(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
    with pytest.raises(PermanentDelivery, match="24-hour window") as caught:
        await adapter.send(msg, channel("whatsapp", api_base_url=base_url), CREDENTIALS, http)
    assert caught.value.provider_code == "63016"
    assert fake.requests == []


@pytest.mark.parametrize(
    "last", [None, datetime.now(UTC) - timedelta(hours=23), datetime.now() - timedelta(hours=1)]
)
async def test_inside_or_unknown_window_sends_text(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient, last: datetime | None
) -> None:
    ch = channel("whatsapp", api_base_url=base_url, templates={"reengagement": TEMPLATE})
    await adapter.send(outbound(last_inbound_at=last), ch, CREDENTIALS, http)
    assert fake.requests[0].form["Body"] == "Hello!"


async def test_sms_has_no_window(fake: FakeTwilio, base_url: str, http: httpx.AsyncClient) -> None:
    msg = outbound(last_inbound_at=datetime.now(UTC) - timedelta(days=30))
    await adapter.send(msg, channel(api_base_url=base_url), CREDENTIALS, http)
    assert fake.requests[0].form["Body"] == "Hello!"


# --- errors --------------------------------------------------------------------------------------


async def send_error(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient, **failure: object
) -> Exception:
    fake.fail_next(**failure)  # type: ignore[arg-type]
    with pytest.raises((RetryableDelivery, PermanentDelivery)) as caught:
        await adapter.send(outbound(), channel(api_base_url=base_url), CREDENTIALS, http)
    return caught.value


async def test_server_error_is_retryable(fake: FakeTwilio, base_url: str, http: httpx.AsyncClient) -> None:
    error = await send_error(fake, base_url, http, status=500)
    assert isinstance(error, RetryableDelivery)
    assert (error.provider_code, error.retry_after) == ("20500", None)


async def test_rate_limit_is_retryable_after(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    error = await send_error(fake, base_url, http, status=429, retry_after="7")
    assert isinstance(error, RetryableDelivery)
    assert (error.provider_code, error.retry_after) == ("20429", 7.0)


async def test_timeout_is_retryable(fake: FakeTwilio, base_url: str, http: httpx.AsyncClient) -> None:
    error = await send_error(fake, base_url, http, timeout=True)
    assert isinstance(error, RetryableDelivery) and "in time" in error.message


async def test_unreachable_twilio_is_retryable(http: httpx.AsyncClient) -> None:
    with run_app(Starlette()) as gone:
        pass  # the port is closed again once the server stops
    with pytest.raises(RetryableDelivery, match="could not reach Twilio"):
        await adapter.send(outbound(), channel(api_base_url=gone), CREDENTIALS, http)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (21211, "The 'To' number +31612345678 is not a valid phone number."),
        (21610, "unsubscribed"),
        (21614, "not a valid mobile number"),
        (63016, "outside the allowed window"),
    ],
)
async def test_refusals_are_permanent(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient, code: int, text: str
) -> None:
    error = await send_error(fake, base_url, http, code=code)
    assert isinstance(error, PermanentDelivery)
    assert (error.provider_code, error.needs_attention) == (str(code), False)
    assert text in error.message


async def test_invalid_to_from_twilio_itself(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    with pytest.raises(PermanentDelivery) as caught:
        await adapter.send(outbound(to="5551234567"), channel(api_base_url=base_url), CREDENTIALS, http)
    expected = json.loads((FIXTURES / "error_21211_invalid_to.json").read_text())
    assert fake.requests[0].answered == expected["status"]
    assert (caught.value.provider_code, caught.value.message) == (
        "21211",
        f"Twilio answered 400 (21211): {expected['message']}",
    )


async def test_bad_credentials_need_attention(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    wrong = {"account_sid": ACCOUNT_SID, "auth_token": "wrong"}
    with pytest.raises(PermanentDelivery) as caught:
        await adapter.send(outbound(), channel(api_base_url=base_url), wrong, http)
    assert (caught.value.provider_code, caught.value.needs_attention) == ("20003", True)
    assert fake.requests[0].answered == 401


async def test_missing_credentials_need_attention(http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentDelivery, match="lacks Twilio credentials") as caught:
        await adapter.send(outbound(), channel(), {"account_sid": ACCOUNT_SID}, http)
    assert caught.value.needs_attention


# --- media and status callbacks over real HTTP ---------------------------------------------------


async def test_media_source_downloads_with_basic_auth(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    url = base_url + fake.add_media("MM1", b"\xff\xd8jpeg", "image/jpeg")
    payload = {"media": {"url": url, "mime_type": "image/jpeg", "caption": ""}}
    source = await adapter.media_source(payload, channel(api_base_url=base_url), CREDENTIALS, http)
    assert (source.url, source.content_type) == (url, "image/jpeg")
    resp = await http.get(source.url, headers=source.headers)
    assert (resp.status_code, resp.content) == (200, b"\xff\xd8jpeg")
    assert (await http.get(source.url)).status_code == 401


async def test_media_credentials_never_leave_twilio(http: httpx.AsyncClient) -> None:
    payload = {"media": {"url": "https://evil.example/2010-04-01/x", "mime_type": "image/png"}}
    source = await adapter.media_source(payload, channel(), CREDENTIALS, http)
    assert source.headers == {}
    payload = {"media": {"url": "https://api.twilio.com:443/2010-04-01/x", "mime_type": "image/png"}}
    assert "Authorization" in (await adapter.media_source(payload, channel(), CREDENTIALS, http)).headers
    with pytest.raises(NotFound):
        await adapter.media_source({"text": "hi"}, channel(), CREDENTIALS, http)


async def test_signed_status_callback_round_trip(
    fake: FakeTwilio, base_url: str, http: httpx.AsyncClient
) -> None:
    seen: list[list] = []

    async def webhook(request: Request) -> PlainTextResponse:
        body = await request.body()
        form = {k: str(v) for k, v in (await request.form()).items()}
        raw = RawRequest(
            "POST", str(request.url), dict(request.headers), dict(request.query_params), body, form
        )
        adapter.verify(raw, channel(), CREDENTIALS)
        seen.append([adapter.routing_keys(raw), *adapter.parse(raw, channel())])
        return PlainTextResponse("")

    receiver = Starlette(routes=[Route("/webhooks/twilio", webhook, methods=["POST"])])
    with run_app(receiver) as public_url:
        sender = TwilioAdapter(public_url=public_url)
        result = await sender.send(outbound(), channel(api_base_url=base_url), CREDENTIALS, http)
        sid = result.provider_message_id
        assert sid is not None
        assert (await fake.deliver_status(sid, "delivered", http=http)).status_code == 200
        assert (
            await fake.deliver_status(sid, "undelivered", error_code="30005", http=http)
        ).status_code == 200
        forged = await post_signed(
            f"{public_url}/webhooks/twilio", {"MessageSid": sid}, "not-the-token", http=http
        )
        assert forged.status_code == 500  # verify raised: nothing parsed
    assert seen == [
        [["+14123456789"], StatusUpdate(sid, "delivered")],
        [["+14123456789"], StatusUpdate(sid, "failed", "30005", "Unknown destination handset")],
    ]
