"""Input the databases cannot hold answers 4xx or is stored made storable, never a 500.

PostgreSQL refuses NUL characters in text and JSONB, neither driver encodes a lone surrogate, and
both databases' integers stop at 2**63-1: each used to surface as a 500.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

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
HUGE = "19426698559282923700224"
FFFD = "\ufffd"


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, public_url=PUBLIC, run_workers=False)


@pytest.fixture
async def api(runtime, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    # A 500 is a response here, not an exception out of the app: the assertions say which input.
    transport = httpx.ASGITransport(app=create_app(runtime=runtime), raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC, headers=headers) as c:
        yield c


async def _inbound(rt) -> list:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        stmt = sa.select(messages).where(messages.c.direction == "in").order_by(messages.c.id)
        return (await conn.execute(stmt)).all()


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    return r.json()["error"]


async def test_every_list_endpoint_bounds_skip(api) -> None:  # type: ignore[no-untyped-def]
    spec = (await api.get("/openapi.json")).json()
    lists = [
        path
        for path, ops in spec["paths"].items()
        if any(p["name"] == "skip" for p in ops.get("get", {}).get("parameters", []))
    ]
    assert len(lists) >= 8, lists
    for path in lists:
        error = _error(await api.get(path, params={"skip": HUGE}), 422)
        assert error["message"].startswith("skip:") and "9223372036854775807" in error["message"], path
        assert (await api.get(path, params={"skip": 2**63 - 1})).status_code == 200, path
        assert _error(await api.get(path, params={"skip": -1}), 422)["details"][0]["field"] == "skip"


async def test_numeric_ids_in_paths_are_bounded(api) -> None:  # type: ignore[no-untyped-def]
    for message_id in (HUGE, "0", str(2**63)):
        error = _error(await api.get(f"/api/v1/messages/{message_id}/media"), 422)
        assert error["details"][0]["field"] == "message_id"
    assert _error(await api.get(f"/api/v1/messages/{2**63 - 1}/media"), 404)


async def test_nul_in_lookups_is_a_4xx(api, runtime) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    for method, path in [
        ("GET", "/api/v1/agents/a%00b"),
        ("GET", "/api/v1/conversations/c%00"),
        ("GET", "/api/v1/agents?status=%00"),
        ("POST", "/webchat/t%00web/sessions"),
    ]:
        r = await api.request(method, path)
        # 400 on PostgreSQL, which holds no NUL in text; on SQLite nothing matches (404, or no items).
        assert r.status_code in (200, 400, 404), (path, r.text)
        assert r.status_code == 200 or r.json()["error"]["message"]


async def test_web_chat_text_with_nul_is_stored_with_a_replacement(api, runtime) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    url = f"/webchat/{ids['channel_id']}/messages"
    session = (await api.post(f"/webchat/{ids['channel_id']}/sessions")).json()["session"]
    r = await api.post(url, json={"session": session, "text": "a\x00b", "client_message_id": "m\x001"})
    assert r.status_code == 202, r.text
    again = await api.post(url, json={"session": session, "text": "a\x00b", "client_message_id": "m\x001"})
    assert again.json()["duplicate"] is True
    raw = json.dumps({"session": session, "text": "a\ud800b"}).encode()  # a lone surrogate, escaped
    r = await api.post(url, content=raw, headers={"content-type": "application/json"})
    assert _error(r, 422)["details"][0]["field"] == "text"
    (row,) = await _inbound(runtime)
    assert row.text == f"a{FFFD}b"


async def test_meta_text_with_nul_or_a_lone_surrogate_is_stored_with_a_replacement(api, runtime) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, "http://127.0.0.1:9")
    body = whatsapp_text("PLACEHOLDER", "wamid.bad-text")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Ann\x00"
    raw = json.dumps(body).replace("PLACEHOLDER", "nul \\u0000 surrogate \\ud800 end").encode()
    raw, headers = meta_signed(raw)
    r = await api.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    assert (await api.post("/webhooks/meta", content=raw, headers=headers)).json()["duplicates"] == 1
    (row,) = await _inbound(runtime)
    assert row.text == f"nul {FFFD} surrogate {FFFD} end"


async def test_twilio_text_with_nul_is_stored_with_a_replacement(api, runtime) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(runtime, "http://127.0.0.1:9", number="+14123456789")
    form = fixture_form("twilio", "inbound_whatsapp_text.form")
    form.update(Body="a\x00b", MessageSid="SMnul", AccountSid=TWILIO_SID, To="+14123456789", From="+3161")
    body, headers = twilio_signed(f"{PUBLIC}/webhooks/twilio", form)
    assert urlencode(form) == body
    r = await api.post("/webhooks/twilio", content=body, headers=headers)
    assert r.status_code == 200, r.text
    (row,) = await _inbound(runtime)
    assert row.text == f"a{FFFD}b"
