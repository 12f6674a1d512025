"""The pipeline's HTTP surface in process: web chat intake, /route/message, conversations, health."""

from __future__ import annotations

import httpx

from frontdesk.security.tokens import SYSTEM, create_token
from tests.helpers import setup_webchat, wait_for


async def _session(client: httpx.AsyncClient, channel_id: str) -> str:
    r = await client.post(f"/webchat/{channel_id}/sessions")
    assert r.status_code == 201, r.text
    return r.json()["session"]


async def test_webchat_message_is_accepted_once_and_answered(client, runtime) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    session = await _session(client, ids["channel_id"])
    body = {"session": session, "text": "what are your opening hours?", "client_message_id": "c-1"}
    first = await client.post(f"/webchat/{ids['channel_id']}/messages", json=body)
    again = await client.post(f"/webchat/{ids['channel_id']}/messages", json=body)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    conv_id = first.json()["conversation_id"]

    async def answered():  # type: ignore[no-untyped-def]
        r = await client.get(f"/api/v1/conversations/{conv_id}")
        out = [m for m in r.json()["messages"] if m["direction"] == "out"]
        return out or None

    out = await wait_for(answered)
    assert [m["text"] for m in out] == ["We are open Monday to Friday, 9:00 to 17:00."]
    assert out[0]["status"] == "sent"


async def test_webchat_rejects_bad_sessions_and_bad_input(client, runtime) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    url = f"/webchat/{ids['channel_id']}/messages"
    r = await client.post(url, json={"session": "v_x.forged", "text": "hi"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    session = await _session(client, ids["channel_id"])
    r = await client.post(url, json={"session": session, "text": ""})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "text"
    r = await client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()
    r = await client.post("/webchat/nope/sessions")
    assert r.status_code == 404
    r = await client.post(url, content=b"x" * (1_048_576 + 10), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_route_message_runs_the_pipeline(client, runtime) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await runtime.config.create(
        "channel",
        {
            "channel_id": "wa",
            "channel_name": "WhatsApp",
            "channel_type": "whatsapp",
            "provider": "infobip",
            "phone_number": "+1234567890",
        },
        principal=SYSTEM,
    )
    await runtime.config.create(
        "mapping", {"agent_id": "t_faq", "channel_id": "wa", "is_primary": True}, principal=SYSTEM
    )
    body = {
        "from": "+1999888777",
        "to": "+1234567890",
        "message": "Where are you located?",
        "conversation_id": "test_001",
    }
    r = await client.post("/route/message", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["agent_id"] == "t_faq" and data["channel_id"] == "wa"
    assert data["replies"] == ["We are at 12 Harbour Street, Springfield."]
    conv = (await client.get(f"/api/v1/conversations/{data['conversation_id']}")).json()
    assert conv["simulated"] is True and conv["thread"] == "route:test_001"

    r = await client.post("/route/message", json={**body, "to": "+1555000111"})
    assert r.status_code == 404 and r.json()["error"]["message"].startswith(
        "No agent found for phone number +1555000111"
    )
    r = await client.post("/route/message", json={**body, "to": "12345"})
    assert r.status_code == 422 and "E.164" in r.json()["error"]["message"]
    r = await client.post("/route/message", json=body, headers={"Authorization": ""})
    assert r.status_code == 401


async def test_conversations_are_tenant_scoped(client, runtime) -> None:  # type: ignore[no-untyped-def]
    a = await setup_webchat(runtime, tenant_id="tenant-a", prefix="a")
    b = await setup_webchat(runtime, tenant_id="tenant-b", prefix="b")
    async with runtime.db.write() as conn:
        _, token_b = await create_token(conn, "tenant-b", "b")
    s = await _session(client, a["channel_id"])
    r = await client.post(f"/webchat/{a['channel_id']}/messages", json={"session": s, "text": "hello"})
    conv_a = r.json()["conversation_id"]
    sb = await _session(client, b["channel_id"])
    await client.post(f"/webchat/{b['channel_id']}/messages", json={"session": sb, "text": "hello"})

    as_b = {"Authorization": f"Bearer {token_b}"}
    assert (await client.get(f"/api/v1/conversations/{conv_a}", headers=as_b)).status_code == 404
    listed = (await client.get("/api/v1/conversations", headers=as_b)).json()
    assert {c["tenant_id"] for c in listed["items"]} == {"tenant-b"}
    assert (await client.get("/api/v1/conversations?tenant_id=tenant-a", headers=as_b)).status_code == 404
    everything = (await client.get("/api/v1/conversations")).json()
    assert everything["total"] == 2


async def test_health_is_open_and_reports_the_pipeline(client, runtime) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/health", headers={"Authorization": ""})
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "ok"
    assert data["database"]["ok"] is True
    assert set(data["queue"]) >= {"queued", "running", "failed"}
    assert data["workers"]["running"] is True
    assert (await client.get("/messaging-connect/status")).json()["status"] == "connected"
