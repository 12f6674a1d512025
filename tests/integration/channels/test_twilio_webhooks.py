"""Twilio messages, status callbacks and calls through the real app, against a fake Twilio REST API."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from frontdesk.store.tables import conversations, messages
from tests.conftest import make_settings
from tests.fakes.server import run_app
from tests.fakes.twilio_rest import FakeTwilio
from tests.helpers import setup_webchat, wait_for
from tests.providers import TWILIO_SID, add_twilio_channel, fixture_form, twilio_signed

PUBLIC = "http://frontdesk.test"
HOURS = "We are open Monday to Friday, 9:00 to 17:00."
BUSINESS = "+14123456789"  # the fixtures' Twilio number
CUSTOMER = "+31612345678"


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    # Signatures cover the public URL: the one the test client calls.
    return make_settings(database_url, public_url=PUBLIC, voice_reply_wait_seconds=5)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with run_app(fake.app) as base_url:
        fake.base_url = base_url  # type: ignore[attr-defined]
        yield fake


async def _rows(rt, direction: str):  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        return (
            await conn.execute(
                sa.select(messages).where(messages.c.direction == direction).order_by(messages.c.id)
            )
        ).all()


async def _post(client, path: str, params: dict[str, str], token: str | None = None):  # type: ignore[no-untyped-def]
    body, headers = twilio_signed(f"{PUBLIC}{path}", params, *([token] if token else []))
    return await client.post(path, content=body, headers=headers)


def _inbound(text: str, sid: str, *, whatsapp: bool) -> dict[str, str]:
    form = fixture_form("twilio", "inbound_whatsapp_text.form")
    form.update(Body=text, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, AccountSid=TWILIO_SID)
    if not whatsapp:
        form.update(To=BUSINESS, From=CUSTOMER)
    return form


@pytest.mark.parametrize("channel_type", ["sms", "whatsapp"])
async def test_a_message_is_answered_and_status_callbacks_update_it(
    runtime, client, fake_twilio, channel_type: str
) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(runtime, fake_twilio.base_url, channel_type=channel_type, number=BUSINESS)
    whatsapp = channel_type == "whatsapp"
    r = await _post(
        client, "/webhooks/twilio", _inbound("What are your opening hours?", "SMin1", whatsapp=whatsapp)
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    await wait_for(lambda: _count(fake_twilio))
    ((sid, form),) = fake_twilio.sent.items()
    prefix = "whatsapp:" if whatsapp else ""
    assert form["To"] == f"{prefix}{CUSTOMER}" and form["From"] == f"{prefix}{BUSINESS}"
    assert form["Body"] == HOURS and form["StatusCallback"] == f"{PUBLIC}/webhooks/twilio"
    recorded = fake_twilio.requests[-1]
    assert recorded.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert recorded.auth == (TWILIO_SID, fake_twilio.auth_token)

    async def status(expected: str):  # type: ignore[no-untyped-def]
        rows = await _rows(runtime, "out")
        return rows and rows[0].status == expected and rows[0]

    await wait_for(lambda: status("sent"))
    assert (await fake_twilio.deliver_status(sid, "delivered", http=client)).status_code == 200
    assert await wait_for(lambda: status("delivered"))
    r = await fake_twilio.deliver_status(sid, "undelivered", error_code="30003", http=client)
    row = await wait_for(lambda: status("failed"))
    assert row.error_code == "30003"


async def _count(fake) -> int:  # type: ignore[no-untyped-def]
    return len(fake.sent)


async def test_redelivery_bad_signature_and_unknown_numbers(runtime, client, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(runtime, fake_twilio.base_url, number=BUSINESS)
    params = _inbound("Where are you located?", "SMtwice", whatsapp=False)
    for path in ("/webhooks/twilio", "/api/v1/channels/whatsapp/webhook"):
        assert (await _post(client, path, params)).status_code == 200
    await wait_for(lambda: _count(fake_twilio))
    forged = _inbound("hi", "SMforged", whatsapp=False)
    r = await _post(client, "/webhooks/twilio", forged, token="wrong-token")
    assert r.status_code == 401
    unsigned = await client.post("/webhooks/twilio", data=forged)
    assert unsigned.status_code == 401
    stranger = {**forged, "To": "+15550000000"}
    assert (await _post(client, "/webhooks/twilio", stranger)).status_code == 404
    assert [r.provider_message_id for r in await _rows(runtime, "in")] == ["SMtwice"]
    assert len(fake_twilio.sent) == 1


async def test_transient_and_permanent_send_failures(runtime, client, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(runtime, fake_twilio.base_url, number=BUSINESS)
    fake_twilio.fail_next(1, status=500)
    fake_twilio.fail_next(1, status=429, code=20429, retry_after=0.1)
    await _post(client, "/webhooks/twilio", _inbound("What are your opening hours?", "SMa", whatsapp=False))

    async def settled(n: int):  # type: ignore[no-untyped-def]
        rows = await _rows(runtime, "out")
        return len(rows) >= n and all(r.status in ("sent", "failed") for r in rows) and rows

    (row,) = await wait_for(lambda: settled(1))
    assert row.status == "sent" and row.attempts == 3 and len(fake_twilio.sent) == 1
    fake_twilio.fail_next(1, code=21610)
    await _post(client, "/webhooks/twilio", _inbound("Where are you located?", "SMb", whatsapp=False))
    rows = await wait_for(lambda: settled(2))
    assert rows[1].status == "failed" and rows[1].error_code == "21610" and rows[1].attempts == 1


async def _call(client, step_params: str, **fields: str) -> ET.Element:  # type: ignore[no-untyped-def]
    form = {
        "CallSid": "CA1234567890ABCDE",
        "AccountSid": TWILIO_SID,
        "From": CUSTOMER,
        "To": BUSINESS,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        **fields,
    }
    r = await _post(client, f"/webhooks/twilio/voice{step_params}", form)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content)


async def _say(client, step_params: str, **fields: str) -> ET.Element:  # type: ignore[no-untyped-def]
    """Like Twilio: follow "one moment" redirects until the agent's answer is spoken."""
    doc = await _call(client, step_params, **fields)
    for _ in range(10):
        if doc.find("Redirect") is None:
            return doc
        doc = await _call(client, _next(doc))
    return doc


def _next(doc: ET.Element) -> str:
    """The query string of the next request Twilio will make (Gather action or Redirect)."""
    gather = doc.find("Gather")
    url = gather.get("action") if gather is not None else doc.findtext("Redirect")
    assert url and url.startswith(f"{PUBLIC}/webhooks/twilio/voice?")
    return url.removeprefix(f"{PUBLIC}/webhooks/twilio/voice")


def _spoken(doc: ET.Element) -> str:
    return " ".join(s.text or "" for s in doc.iter("Say"))


async def test_a_call_goes_through_two_speech_turns_and_a_goodbye(runtime, client, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(
        runtime, fake_twilio.base_url, channel_id="phone", channel_type="voice", number=BUSINESS
    )
    greeting = await _call(client, "")
    assert greeting.find("Gather").get("input") == "speech" and "How can I help" in _spoken(greeting)
    first = await _say(
        client, _next(greeting), SpeechResult="What are your opening hours?", Confidence="0.93"
    )
    assert HOURS in _spoken(first)
    second = await _say(client, _next(first), SpeechResult="Where are you located?", Confidence="0.9")
    assert "Harbour Street" in _spoken(second)
    again = await _say(client, _next(first), SpeechResult="Where are you located?", Confidence="0.9")
    assert "Harbour Street" in _spoken(again)  # a redelivered request: same answer, stored once
    silence = await _call(client, _next(second))
    assert "didn't catch" in _spoken(silence)
    goodbye = await _call(client, _next(silence))
    assert goodbye.find("Hangup") is not None and "Goodbye" in _spoken(goodbye)
    rows = await _rows(runtime, "in")
    assert [r.text for r in rows] == ["What are your opening hours?", "Where are you located?"]
    async with runtime.db.read() as conn:
        thread = (await conn.execute(sa.select(conversations.c.thread))).scalar_one()
    assert thread == "call:CA1234567890ABCDE" and fake_twilio.sent == {}


async def test_a_call_the_agent_cannot_answer_is_put_through_to_a_person(
    runtime, client, fake_twilio
) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(
        runtime,
        fake_twilio.base_url,
        channel_id="phone",
        channel_type="voice",
        number=BUSINESS,
        settings={"human_number": "+14155550100"},
    )
    greeting = await _call(client, "")
    doc = await _say(client, _next(greeting), SpeechResult="I need to speak to someone about a complaint")
    assert doc.findtext("Dial/Number") == "+14155550100" or doc.findtext("Dial") == "+14155550100"


async def test_voice_webhooks_are_signed_too(runtime, client, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(runtime, fake_twilio.base_url, channel_type="voice", number=BUSINESS)
    form = {"CallSid": "CA1", "From": CUSTOMER, "To": BUSINESS, "SpeechResult": "hello"}
    r = await client.post("/webhooks/twilio/voice?step=gather&turn=1", data=form)
    assert r.status_code == 401 and await _rows(runtime, "in") == []


async def test_mock_mode_records_sends_instead_of_calling_twilio(database_url, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from frontdesk.app import create_app
    from frontdesk.runtime import Runtime
    from frontdesk.security.tokens import create_token

    rt = Runtime(make_settings(database_url, public_url=PUBLIC, mock_providers=True))
    await rt.start()
    try:
        async with rt.db.write() as conn:
            _, token = await create_token(conn, None, "t")
        await setup_webchat(rt)
        await add_twilio_channel(rt, fake_twilio.base_url, number=BUSINESS)
        transport = httpx.ASGITransport(app=create_app(runtime=rt))
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC, headers=headers) as c:
            r = await _post(
                c, "/webhooks/twilio", _inbound("What are your opening hours?", "SMm", whatsapp=False)
            )
            assert r.status_code == 200

            async def recorded():  # type: ignore[no-untyped-def]
                return (await c.get("/api/v1/mock/sends")).json()["items"]

            (item,) = await wait_for(recorded)
            assert item["to"] == CUSTOMER and item["text"] == HOURS and item["channel_id"] == "tw"
        assert fake_twilio.requests == []
    finally:
        await rt.stop()
