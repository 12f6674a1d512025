"""Never acknowledge and drop: every message a verified webhook carries is stored, as a conversation
message (kind "unsupported" with its reason when it could not be read) or, naming no sender, as an
unattributed message; counted in /health, listed in the API, logged once."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from frontdesk.pipeline import ingest
from frontdesk.store.channel_tables import unattributed_messages
from frontdesk.store.tables import messages
from tests.conftest import make_settings
from tests.fakes import meta_graph
from tests.fakes.server import run_app
from tests.fakes.twilio_rest import FakeTwilio
from tests.helpers import setup_webchat
from tests.providers import (
    TWILIO_SID,
    add_meta_channel,
    add_twilio_channel,
    fixture_form,
    fixture_json,
    meta_signed,
    twilio_signed,
)

fake_meta = meta_graph.fake_meta
PUBLIC = "http://frontdesk.test"
META_SHAPES = [
    "inbound_text.json",
    "inbound_image.json",
    "inbound_image_with_url.json",
    "interactive_button_reply.json",
    "interactive_list_reply.json",
    "inbound_text_bsuid_only.json",
    "inbound_text_phone_and_bsuid.json",
    "inbound_unsupported_type.json",
    "system_user_changed_number.json",
    "system_user_changed_user_id.json",
    "status_sent.json",
    "status_delivered_bsuid_only.json",
    "status_failed.json",
]
# Shapes no fixture has: no sender at all, not an object, types Frontdesk does not read, content
# of the wrong shape, a sender id that is not a BSUID.
UNKNOWN_MESSAGES: list[Any] = [
    {"id": "wamid.nobody", "timestamp": "1767225600", "type": "text", "text": {"body": "hi"}},
    "not a message",
    17,
    {"from": "972987654321", "id": "wamid.order", "type": "order", "order": {"catalog_id": "1"}},
    {"from": "972987654321", "id": "wamid.flow", "type": "interactive", "interactive": {"type": "nfm_reply"}},
    {"from": "972987654321", "id": "wamid.badtext", "type": "text", "text": "not an object"},
    {"from_user_id": "not-a-bsuid", "id": "wamid.badid", "type": "text", "text": {"body": "x"}},
    {"from": "972987654321", "type": "reaction", "reaction": {"emoji": "👍"}},
]
TWILIO_SHAPES = [
    "inbound_whatsapp_text.form",
    "inbound_whatsapp_image.form",
    "inbound_whatsapp_location.form",
    "inbound_whatsapp_text_bsuid_only.form",
    "inbound_whatsapp_text_phone_and_bsuid.form",
]


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, public_url=PUBLIC)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with run_app(fake.app) as base_url:
        fake.base_url = base_url  # type: ignore[attr-defined]
        yield fake


def _unique(body: dict[str, Any], tag: str) -> dict[str, Any]:
    """The webhook with its message ids made unique to ``tag`` (fixtures share ``wamid.xyzxyz``)."""
    body = copy.deepcopy(body)
    for message in body["entry"][0]["changes"][0]["value"].get("messages", []):
        if isinstance(message, dict) and "id" in message:
            message["id"] = f"{message['id']}.{tag}"
    return body


def _count_messages(body: dict[str, Any]) -> int:
    return sum(len(change["value"].get("messages", [])) for e in body["entry"] for change in e["changes"])


async def _stored(rt) -> int:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        inbound = (
            await conn.execute(sa.select(sa.func.count()).where(messages.c.direction == "in"))
        ).scalar_one()
        apart = (
            await conn.execute(sa.select(sa.func.count()).select_from(unattributed_messages))
        ).scalar_one()
    return inbound + apart


async def _post_meta(client, body):  # type: ignore[no-untyped-def]
    raw, headers = meta_signed(body)
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


class Warnings:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})


async def test_every_meta_message_is_stored(runtime, client, fake_meta, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake_meta.base_url)
    expected = 0
    for name in META_SHAPES:
        body = _unique(fixture_json("meta_whatsapp", name), hashlib.sha1(name.encode()).hexdigest()[:8])
        await _post_meta(client, body)
        expected += _count_messages(body)
        assert await _stored(runtime) == expected, name
    unknown = copy.deepcopy(fixture_json("meta_whatsapp", "inbound_text.json"))
    unknown["entry"][0]["changes"][0]["value"]["messages"] = UNKNOWN_MESSAGES
    logs = Warnings()
    monkeypatch.setattr(ingest, "log", logs)
    receipt = await _post_meta(client, unknown)
    again = await _post_meta(client, unknown)  # redelivered: nothing new, nothing logged twice
    expected += len(UNKNOWN_MESSAGES)
    assert await _stored(runtime) == expected
    assert receipt["stored"] + receipt["unattributed"] == len(UNKNOWN_MESSAGES)
    assert again["duplicates"] == len(UNKNOWN_MESSAGES) and again["stored"] == again["unattributed"] == 0
    unsupported = [e for e in logs.events if e["event"] == "inbound message stored as unsupported"]
    apart = [e for e in logs.events if e["event"] == "inbound message stored as unattributed"]
    assert len(logs.events) == len(unsupported) + len(apart)
    assert len(apart) == receipt["unattributed"] == 4  # no sender, a string, a number, a bad id
    assert len(unsupported) == 4 and all(e["reason"] for e in unsupported)

    listed = (await client.get("/api/v1/unattributed-messages")).json()
    assert listed["total"] == 4 and all(item["reason"] for item in listed["items"])
    payloads = [item["payload"] for item in listed["items"]]
    assert "not a message" in payloads and 17 in payloads
    health = (await client.get("/health", params={"detail": "true"})).json()  # with the admin token
    # One unsupported fixture and four unknown shapes, per channel and in total.
    assert health["channels"]["wa"]["unsupported_messages"] == 5
    assert health["channels"]["wa"]["unattributed_messages"] == 4
    assert health["inbound"] == {"unsupported_messages": 5, "unattributed_messages": 4}
    conv_id = next(cid for cid in receipt["conversation_ids"])
    shown = (await client.get(f"/api/v1/conversations/{conv_id}")).json()
    reasons = [m["status_reason"] for m in shown["messages"] if m["kind"] == "unsupported"]
    assert any("'order' is not supported" in r for r in reasons)


async def test_every_twilio_message_is_stored(runtime, client, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(runtime, fake_twilio.base_url, channel_type="whatsapp", number="+14123456789")
    nobody = fixture_form("twilio", "inbound_whatsapp_text.form")
    del nobody["From"]
    forms = [fixture_form("twilio", name) for name in TWILIO_SHAPES] + [nobody]
    for i, form in enumerate(forms):
        sid = f"SM{i:032d}"
        form.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, AccountSid=TWILIO_SID)
        body, headers = twilio_signed(f"{PUBLIC}/webhooks/twilio", form)
        r = await client.post("/webhooks/twilio", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert await _stored(runtime) == i + 1, form
    health = (await client.get("/health", params={"detail": "true"})).json()  # with the admin token
    assert health["channels"]["tw"]["unattributed_messages"] == 1
