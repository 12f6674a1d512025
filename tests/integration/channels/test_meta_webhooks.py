"""Meta webhooks through the real app and pipeline, answered through a fake Graph API over HTTP."""

from __future__ import annotations

import asyncio
import copy
import time

import sqlalchemy as sa

from frontdesk.store.tables import messages
from tests.fakes import meta_graph
from tests.helpers import setup_webchat, wait_for
from tests.providers import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    add_meta_channel,
    fixture_json,
    meta_signed,
    recent,
    whatsapp_status,
    whatsapp_text,
)

fake_meta = meta_graph.fake_meta
HOURS = "We are open Monday to Friday, 9:00 to 17:00."


async def _rows(rt, direction: str | None = None) -> list:  # type: ignore[no-untyped-def]
    stmt = sa.select(messages).order_by(messages.c.id)
    if direction:
        stmt = stmt.where(messages.c.direction == direction)
    async with rt.db.read() as conn:
        return (await conn.execute(stmt)).all()


async def _ready(runtime, fake) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake.base_url)


async def _post(client, body, **kw):  # type: ignore[no-untyped-def]
    raw, headers = meta_signed(body, **kw)
    return await client.post("/webhooks/meta", content=raw, headers=headers)


async def test_whatsapp_message_is_answered_and_its_statuses_recorded(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    r = await _post(client, whatsapp_text("What are your opening hours?", "wamid.in-1"))
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    await wait_for(lambda: _sent(fake_meta))
    sent = fake_meta.sent[0]
    assert sent.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert sent.headers["authorization"] == "Bearer EAAG-fake-token"
    assert sent.json["to"] == "972987654321" and sent.json["type"] == "text"
    assert sent.json["text"]["body"] == HOURS
    await wait_for(lambda: _receipts(fake_meta))
    assert fake_meta.read_receipts == ["wamid.in-1"]  # the answered message shows as read

    async def reply():  # type: ignore[no-untyped-def]
        rows = await _rows(runtime, "out")
        return rows[0] if rows and rows[0].status == "sent" else None

    row = await wait_for(reply)
    assert row.provider_message_id.startswith("wamid.")
    for fixture, expected in [
        ("status_delivered.json", "delivered"),
        ("status_read.json", "read"),
        ("status_delivered.json", "read"),  # late: never moves back
    ]:
        r = await _post(client, whatsapp_status(fixture, row.provider_message_id))
        assert r.status_code == 200
        assert (await _rows(runtime, "out"))[0].status == expected


async def _sent(fake) -> int:  # type: ignore[no-untyped-def]
    return len(fake.sent)


async def _receipts(fake) -> int:  # type: ignore[no-untyped-def]
    return len(fake.read_receipts)


async def test_a_redelivered_webhook_gets_no_second_reply(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    body = whatsapp_text("Where are you located?", "wamid.twice")
    first = await _post(client, body)
    await wait_for(lambda: _sent(fake_meta))
    again = await _post(client, body)
    assert first.json()["stored"] == 1 and again.json() | {"message_ids": []} == {
        **again.json(),
        "stored": 0,
        "duplicates": 1,
        "message_ids": [],
    }
    await asyncio.sleep(0.5)
    assert len(fake_meta.sent) == 1 and len(await _rows(runtime, "in")) == 1


async def test_bad_or_missing_signatures_store_nothing(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    raw, headers = meta_signed(whatsapp_text("hi", "wamid.forged"), secret="not-the-app-secret")
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 401
    del headers["x-hub-signature-256"]
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    good, headers = meta_signed(whatsapp_text("hi", "wamid.tampered"))
    r = await client.post("/webhooks/meta", content=good.replace(b"hi", b"yo"), headers=headers)
    assert r.status_code == 401
    assert await _rows(runtime) == []


async def test_unknown_numbers_and_malformed_bodies_are_4xx(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    body = whatsapp_text("hi", "wamid.unknown")
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    r = await _post(client, body)
    assert r.status_code == 404 and "999" in r.json()["error"]["message"]
    raw, headers = meta_signed(b"{not json")
    assert (await client.post("/webhooks/meta", content=raw, headers=headers)).status_code == 400
    assert await _rows(runtime) == []


async def test_subscription_handshake(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    for path in ("/webhooks/meta", "/webhook"):
        r = await client.get(path, params=ok)
        assert r.status_code == 200 and r.text == "1158201444"
        assert (await client.get(path, params={**ok, "hub.verify_token": "wrong"})).status_code == 403
        assert (await client.get(path)).status_code == 403


async def test_one_post_for_two_tenants_routes_each_event(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    await setup_webchat(runtime, tenant_id="other", prefix="o")
    await add_meta_channel(
        runtime,
        fake_meta.base_url,
        channel_id="wa2",
        routing_key="2233",
        tenant_id="other",
        agent_id="o_faq",
        phone="+972123456780",
    )
    body = whatsapp_text("What are your opening hours?", "wamid.a")
    second = copy.deepcopy(body["entry"][0])
    second["changes"][0]["value"]["metadata"]["phone_number_id"] = "2233"
    second["changes"][0]["value"]["messages"][0]["id"] = "wamid.b"
    body["entry"].append(second)
    r = await _post(client, body)
    assert r.json()["stored"] == 2 and sorted(r.json()["channels"]) == ["wa", "wa2"]
    await wait_for(lambda: _at_least(fake_meta, 2))
    assert sorted(s.path for s in fake_meta.sent) == [
        f"/v21.0/{PHONE_NUMBER_ID}/messages",
        "/v21.0/2233/messages",
    ]
    rows = await _rows(runtime, "in")
    assert {(r.tenant_id, r.provider_message_id) for r in rows} == {
        ("default", "wamid.a"),
        ("other", "wamid.b"),
    }


async def _at_least(fake, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(fake.sent) >= n


async def test_transient_failures_deliver_once_after_retries(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    fake_meta.fail_next(1, status=500)
    fake_meta.fail_next(1, status=429, retry_after=0.1)
    fake_meta.fail_next(1, error_code=130429)
    await _post(client, whatsapp_text("What are your opening hours?", "wamid.retry"))

    async def delivered():  # type: ignore[no-untyped-def]
        rows = await _rows(runtime, "out")
        return rows and rows[0].status == "sent" and rows[0]

    row = await wait_for(delivered)
    assert row.attempts == 4 and len(fake_meta.sent) == 4
    assert len({s.json["text"]["body"] for s in fake_meta.sent}) == 1


async def test_permanent_failures_keep_the_providers_reason(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    fake_meta.fail_next(
        1, body=fixture_json("meta_whatsapp", "error_131030_recipient_not_allowed.json"), status=400
    )
    await _post(client, whatsapp_text("What are your opening hours?", "wamid.perm"))

    async def failed():  # type: ignore[no-untyped-def]
        rows = await _rows(runtime, "out")
        return rows and rows[0].status == "failed" and rows[0]

    row = await wait_for(failed)
    assert row.error_code == "131030" and row.attempts == 1
    assert "allowed list" in row.status_reason


async def test_an_expired_token_shows_the_channel_needs_attention(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    fake_meta.fail_next(1, body=fixture_json("meta_whatsapp", "error_190_expired_token.json"), status=401)
    await _post(client, whatsapp_text("What are your opening hours?", "wamid.token"))

    async def flagged():  # type: ignore[no-untyped-def]
        health = (await client.get("/health", params={"detail": "true"})).json()
        return health["channels"].get("wa", {}).get("needs_attention") and health

    health = await wait_for(flagged)
    assert health["channels"]["wa"]["last_send_code"] == "190"
    report = (await client.get("/config/api/validation")).json()
    assert any(w["code"] == "channel_needs_attention" and w["object_id"] == "wa" for w in report["warnings"])
    assert report["channels"]["wa"]["needs_attention"] is True


async def test_messenger_and_instagram_are_routed_by_account_id(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(
        runtime, fake_meta.base_url, channel_id="fb", channel_type="messenger", routing_key="106"
    )
    await add_meta_channel(
        runtime, fake_meta.base_url, channel_id="ig", channel_type="instagram", routing_key="178"
    )
    for obj, account, mid in [("page", "106", "m_1"), ("instagram", "178", "ig_1")]:
        body = {
            "object": obj,
            "entry": [
                {
                    "id": account,
                    "time": 1700000000000,
                    "messaging": [
                        {
                            "sender": {"id": "2400001"},
                            "recipient": {"id": account},
                            "timestamp": int(time.time() * 1000),
                            "message": {"mid": mid, "text": "What are your opening hours?"},
                        }
                    ],
                }
            ],
        }
        r = await _post(client, body)
        assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    await wait_for(lambda: _at_least(fake_meta, 2))
    by_path = {s.path: s.json for s in fake_meta.sent}
    for account in ("106", "178"):
        sent = by_path[f"/v21.0/{account}/messages"]
        assert sent["recipient"] == {"id": "2400001"} and sent["message"]["text"] == HOURS


async def test_media_is_downloaded_on_demand(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    body = recent(fixture_json("meta_whatsapp", "inbound_image.json"))
    media_id = body["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["id"]
    fake_meta.add_media(media_id, b"\x89PNG fake image bytes", "image/jpeg")
    r = await _post(client, body)
    message_id = r.json()["message_ids"][0]
    media = await client.get(f"/api/v1/messages/{message_id}/media")
    assert media.status_code == 200 and media.content == b"\x89PNG fake image bytes"
    assert media.headers["content-type"].startswith("image/jpeg")
    assert (await client.get("/api/v1/messages/999999/media")).status_code == 404


async def test_unknown_event_kinds_are_stored_as_unsupported(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    body = whatsapp_text("x", "wamid.odd")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="unsupported", errors=[{"code": 131051, "title": "Message type unknown"}])
    r = await _post(client, body)
    assert r.status_code == 200 and r.json()["stored"] == 1
    row = (await _rows(runtime, "in"))[0]
    assert row.kind == "unsupported" and row.payload["raw"]["type"] == "unsupported"


async def test_the_app_secret_is_what_signs(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    raw, headers = meta_signed(whatsapp_text("hi", "wamid.ok"), secret=APP_SECRET)
    assert (await client.post("/webhook", content=raw, headers=headers)).status_code == 200


async def test_proactive_send_endpoint(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await _ready(runtime, fake_meta)
    body = {"to": "+972987654321", "message": "Your **order** is ready", "tenant_id": "default"}
    r = await client.post("/api/v1/channels/whatsapp/send", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "sent" and out["channel_id"] == "wa"
    assert out["provider_message_id"].startswith("wamid.")
    assert fake_meta.sent[0].json["text"]["body"] == "Your *order* is ready"  # Markdown → WhatsApp
    bad = await client.post("/api/v1/channels/whatsapp/send", json={**body, "to": "12"})
    assert bad.status_code == 422
    other = await client.post("/api/v1/channels/whatsapp/send", json={**body, "tenant_id": "nope"})
    assert other.status_code == 404
