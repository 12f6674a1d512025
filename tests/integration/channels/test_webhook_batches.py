"""Webhooks as providers send them: one content type, one signature header, and batches whose
valid events are stored while the others are refused with a reason, answered 200 every time."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from frontdesk.app import create_app
from frontdesk.store.tables import messages
from tests.conftest import make_settings
from tests.helpers import setup_webchat
from tests.providers import (
    TWILIO_SID,
    add_meta_channel,
    add_twilio_channel,
    fixture_form,
    meta_signed,
    twilio_signed,
    whatsapp_text,
)

PUBLIC = "http://frontdesk.test"
DAY = 86400


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, public_url=PUBLIC, run_workers=False)


@pytest.fixture
async def api(runtime) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, "http://127.0.0.1:9")
    await add_twilio_channel(runtime, "http://127.0.0.1:9", number="+14123456789")
    transport = httpx.ASGITransport(app=create_app(runtime=runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as c:
        yield c


async def _stored(rt) -> list[str]:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        stmt = sa.select(messages.c.provider_message_id).order_by(messages.c.id)
        return list((await conn.execute(stmt.where(messages.c.direction == "in"))).scalars())


def _batch(*messages_: dict) -> dict:
    """One WhatsApp webhook carrying ``messages_`` (each a ``messages[]`` item)."""
    body = whatsapp_text("unused", "wamid.unused")
    body["entry"][0]["changes"][0]["value"]["messages"] = list(messages_)
    return body


def _message(message_id: str, text: str = "hello", *, sent: float | None = None) -> dict:
    item = copy.deepcopy(whatsapp_text(text, message_id)["entry"][0]["changes"][0]["value"]["messages"][0])
    item["timestamp"] = str(int(sent if sent is not None else time.time()))
    return item


async def test_a_batch_with_a_poison_event_stores_the_good_ones_and_answers_200_always(api, runtime) -> None:  # type: ignore[no-untyped-def]
    poison = "wamid." + "x" * 300  # longer than any message id the store holds
    body = _batch(_message("wamid.good"), _message(poison), _message("wamid.good-too"))
    raw, headers = meta_signed(body)
    for attempt in range(3):  # the first delivery and two redeliveries
        r = await api.post("/webhooks/meta", content=raw, headers=headers)
        assert r.status_code == 200, r.text
        receipt = r.json()
        assert receipt["stored"] == (2 if attempt == 0 else 0)
        assert receipt["duplicates"] == (0 if attempt == 0 else 2)
        (refused,) = receipt["refused"]
        assert refused["reason"] == "its message id is longer than 200 characters"
        assert refused["provider_message_id"] == poison[:200]
    assert await _stored(runtime) == ["wamid.good", "wamid.good-too"]


async def test_messages_outside_the_replay_window_are_refused(api, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "webhook_max_age_days", 8)  # the operator's window
    now = time.time()
    body = _batch(
        _message("wamid.week-old", sent=now - 7 * DAY),  # Meta still retries it: accepted
        _message("wamid.month-old", sent=now - 30 * DAY),
        _message("wamid.tomorrow", sent=now + DAY),
    )
    r = await api.post("/webhooks/meta", content=meta_signed(body)[0], headers=meta_signed(body)[1])
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    reasons = {x["provider_message_id"]: x["reason"] for x in r.json()["refused"]}
    assert set(reasons) == {"wamid.month-old", "wamid.tomorrow"}
    assert all("outside the accepted window (8 days back, 1 hour ahead)" in v for v in reasons.values())
    assert await _stored(runtime) == ["wamid.week-old"]
    # Refused, not dropped: both are kept apart with their reason.
    kept = (await api.get("/api/v1/unattributed-messages")).json()
    assert kept, kept


async def test_without_an_age_window_an_old_message_is_stored(api, runtime) -> None:  # type: ignore[no-untyped-def]
    body = _batch(_message("wamid.month-old", sent=time.time() - 30 * DAY))
    r = await api.post("/webhooks/meta", content=meta_signed(body)[0], headers=meta_signed(body)[1])
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
async def test_signed_meta_json_is_taken_as_application_json_only(api, runtime, content_type: str) -> None:  # type: ignore[no-untyped-def]
    raw, headers = meta_signed(whatsapp_text("hi", "wamid.typed"))
    r = await api.post("/webhooks/meta", content=raw, headers={**headers, "content-type": content_type})
    assert r.status_code == 415, r.text
    error = r.json()["error"]
    assert error["code"] == "unsupported_media_type" and "application/json" in error["message"]
    charset = {**headers, "content-type": "application/json; charset=utf-8"}
    assert (await api.post("/webhooks/meta", content=raw, headers=charset)).status_code == 200
    assert await _stored(runtime) == ["wamid.typed"]


async def test_twilio_takes_forms_and_json_only(api, runtime) -> None:  # type: ignore[no-untyped-def]
    form = fixture_form("twilio", "inbound_whatsapp_text.form")
    form.update(MessageSid="SMtyped", AccountSid=TWILIO_SID, To="+14123456789", From="+31612345678")
    body, headers = twilio_signed(f"{PUBLIC}/webhooks/twilio", form)
    for path in ("/webhooks/twilio", "/webhooks/twilio/voice"):
        r = await api.post(path, content=body, headers={**headers, "content-type": "text/plain"})
        assert r.status_code == 415 and "application/x-www-form-urlencoded" in r.text, r.text
    assert (await api.post("/webhooks/twilio", content=body, headers=headers)).status_code == 200
    assert await _stored(runtime) == ["SMtyped"]


async def test_two_different_signature_headers_are_refused(api, runtime) -> None:  # type: ignore[no-untyped-def]
    raw, headers = meta_signed(whatsapp_text("hi", "wamid.two-signatures"))
    good = headers["x-hub-signature-256"]
    for first, second in [("sha256=" + "0" * 64, good), (good, "sha256=" + "0" * 64)]:
        pairs = [("content-type", "application/json"), ("x-hub-signature-256", first)]
        r = await api.post("/webhooks/meta", content=raw, headers=[*pairs, ("x-hub-signature-256", second)])
        assert r.status_code == 400 and "more than one x-hub-signature-256" in r.text, r.text
    form = fixture_form("twilio", "inbound_whatsapp_text.form")
    body, twilio = twilio_signed(f"{PUBLIC}/webhooks/twilio", form)
    pairs = [(k, v) for k, v in twilio.items()] + [("x-twilio-signature", "forged")]
    assert (await api.post("/webhooks/twilio", content=body, headers=pairs)).status_code == 400
    assert await _stored(runtime) == []
    # The same signature twice is one signature.
    pairs = [("content-type", "application/json"), ("x-hub-signature-256", good)] * 2
    assert (await api.post("/webhooks/meta", content=raw, headers=pairs)).status_code == 200


async def test_a_payload_number_jsonb_refuses_is_kept_as_a_string(api, runtime) -> None:  # type: ignore[no-untyped-def]
    odd = _message("wamid.infinite")
    odd.pop("text")
    odd.update(type="novel", novel={"n": "INFINITE"})  # an unknown kind: its payload is kept raw
    raw = json.dumps(_batch(odd, _message("wamid.after"))).replace('"INFINITE"', "1e400").encode()
    r = await api.post("/webhooks/meta", content=raw, headers=meta_signed(raw)[1])
    assert r.status_code == 200 and r.json()["stored"] == 2 and r.json()["refused"] == [], r.text
    async with runtime.db.read() as conn:
        stmt = sa.select(messages.c.payload).order_by(messages.c.id)
        payload = (await conn.execute(stmt)).scalars().first()
    assert payload["raw"]["novel"] == {"n": "inf"}
