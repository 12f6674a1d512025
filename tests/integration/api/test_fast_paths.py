"""The POSTs answered from ASGI (api/fast_paths.py) answer exactly as their routes.

Each request goes to the app as it runs (the fast path answers it) and to the same app without
the fast path (FastAPI's route answers it); status, content type and body must be the same, and
the database must hold each accepted message once. Message ids differ between the two (each copy
of a request carries its own provider message id), so receipts are compared by their counts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from frontdesk.api.fast_paths import FastPaths
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
MAX_BODY = 64 * 1024


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, public_url=PUBLIC, run_workers=False, max_body_bytes=MAX_BODY)


@pytest.fixture
async def apps(runtime) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, "http://127.0.0.1:9")
    await add_twilio_channel(runtime, "http://127.0.0.1:9", number="+14123456789")
    fast = create_app(runtime=runtime)
    routed = create_app(runtime=runtime)
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not FastPaths]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=PUBLIC)
        for app in (fast, routed)
    ]
    try:
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()


def _comparable(r: httpx.Response) -> tuple[int, str, Any]:
    body: Any = r.text
    if r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        if "message_ids" in body:  # a receipt: its ids are the copy's own
            body = {
                **body,
                "message_ids": len(body["message_ids"]),
                "conversation_ids": len(body["conversation_ids"]),
            }
        if {"id", "duplicate"} <= set(body):  # a web chat acceptance: its id is the copy's own
            body = {**body, "id": isinstance(body["id"], int)}
    assert "Traceback" not in r.text
    return r.status_code, r.headers.get("content-type", ""), body


async def _both(apps, path: str, make) -> tuple[int, str, Any]:  # type: ignore[no-untyped-def]
    """Post what ``make(copy)`` builds to both apps; their answers, once they are found equal."""
    answers = []
    for copy, client in enumerate(apps):
        content, headers = make(copy)
        answers.append(_comparable(await client.post(path, content=content, headers=headers)))
    assert answers[0] == answers[1]
    return answers[0]


async def _inbound_ids(rt) -> list[str]:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        stmt = sa.select(messages.c.provider_message_id).where(messages.c.direction == "in")
        return sorted((await conn.execute(stmt)).scalars())


def meta(copy: int, tweak=None):  # type: ignore[no-untyped-def]
    body, headers = meta_signed(whatsapp_text("hello", f"wamid.fast-{copy}"))
    return (tweak or (lambda b, h: (b, h)))(body, headers)


async def test_a_valid_meta_webhook_is_stored_once_by_either(apps, runtime) -> None:  # type: ignore[no-untyped-def]
    status, _, receipt = await _both(apps, "/webhooks/meta", meta)
    assert status == 200 and receipt["stored"] == 1
    assert await _inbound_ids(runtime) == ["wamid.fast-0", "wamid.fast-1"]
    # Redelivered: a duplicate for both, nothing stored again.
    _, _, again = await _both(apps, "/webhooks/meta", meta)
    assert again["duplicates"] == 1 and again["stored"] == 0
    assert len(await _inbound_ids(runtime)) == 2
    # The seed system's path is the same handler.
    _, _, legacy = await _both(apps, "/webhook", lambda c: meta(c + 10))
    assert legacy["stored"] == 1


@pytest.mark.parametrize(
    ("case", "tweak", "status"),
    [
        ("wrong signature", lambda b, h: (b, {**h, "x-hub-signature-256": "sha256=" + "0" * 64}), 401),
        ("no signature", lambda b, h: (b, {"content-type": "application/json"}), 401),
        ("not JSON", lambda b, h: meta_signed(b"{not json"), 400),
        ("unknown number", lambda b, h: meta_signed(b.replace(b"1122334455667", b"999")), 404),
        ("form body", lambda b, h: (b, {**h, "content-type": "application/x-www-form-urlencoded"}), 415),
        ("too large", lambda b, h: meta_signed(b" " * MAX_BODY + b), 413),
    ],
)
async def test_refused_meta_webhooks_get_the_same_error(apps, runtime, case, tweak, status) -> None:  # type: ignore[no-untyped-def]
    answer = await _both(apps, "/webhooks/meta", lambda c: meta(c, tweak))
    assert answer[0] == status, (case, answer)
    assert answer[2]["error"]["message"], case
    assert await _inbound_ids(runtime) == []


async def test_two_signature_headers_are_refused_by_either(apps) -> None:  # type: ignore[no-untyped-def]
    for client in apps:
        body, headers = meta(0)
        raw = [(k.encode(), v.encode()) for k, v in headers.items()] + [
            (b"x-hub-signature-256", b"sha256=00")
        ]
        r = await client.post("/webhooks/meta", content=body, headers=raw)
        assert r.status_code == 400 and "more than one" in r.json()["error"]["message"]


async def test_twilio_answers_twiml_or_json_as_asked(apps, runtime) -> None:  # type: ignore[no-untyped-def]
    def twilio(copy: int, accept: str | None = None):  # type: ignore[no-untyped-def]
        form = fixture_form("twilio", "inbound_whatsapp_text.form")
        form.update(
            MessageSid=f"SMfast{copy}{accept}", AccountSid=TWILIO_SID, To="+14123456789", From="+3161"
        )
        body, headers = twilio_signed(f"{PUBLIC}/webhooks/twilio", form)
        return body, {**headers, **({"accept": accept} if accept else {})}

    status, media, twiml = await _both(apps, "/webhooks/twilio", twilio)
    assert (status, media) == (200, "application/xml") and "<Response/>" in twiml
    _, _, receipt = await _both(apps, "/webhooks/twilio", lambda c: twilio(c, "application/json"))
    assert receipt["stored"] == 1
    assert len(await _inbound_ids(runtime)) == 4


async def test_other_requests_pass_through(apps) -> None:  # type: ignore[no-untyped-def]
    fast, _ = apps
    challenge = await fast.get(
        "/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "42"},
    )
    assert challenge.status_code == 403  # the handshake route answered, not the fast path
    assert (await fast.get("/health")).status_code == 200
    assert json.loads((await fast.get("/openapi.json")).text)["paths"]["/webhooks/meta"]["post"]


async def _session(client: httpx.AsyncClient) -> str:
    r = await client.post("/webchat/t_web/sessions")
    assert r.status_code == 201, r.text
    return r.json()["session"]


def _chat(session: str, copy: int, **fields: Any) -> Any:  # type: ignore[no-untyped-def]
    body = {
        "session": session,
        "text": "what are your opening hours?",
        "client_message_id": f"c{copy}",
        **fields,
    }
    return json.dumps(body).encode(), {"content-type": "application/json"}


async def test_a_web_chat_message_is_accepted_alike(apps, runtime) -> None:  # type: ignore[no-untyped-def]
    session = await _session(apps[0])
    status, _, accepted = await _both(apps, "/webchat/t_web/messages", lambda c: _chat(session, c))
    assert status == 202 and set(accepted) == {"id", "conversation_id", "duplicate"}
    assert accepted["duplicate"] is False
    # The same client_message_id again: the same message, a duplicate, from either.
    answers = [
        await c.post("/webchat/t_web/messages", content=_chat(session, 0)[0], headers=_chat(session, 0)[1])
        for c in apps
    ]
    assert [a.json()["duplicate"] for a in answers] == [True, True]


@pytest.mark.parametrize(
    ("case", "make", "status"),
    [
        ("no text", lambda s, c: _chat(s, c, text=""), 422),
        ("text not a string", lambda s, c: _chat(s, c, text=5), 422),
        ("not JSON", lambda s, c: (b"{nope", {"content-type": "application/json"}), 422),
        ("a JSON list", lambda s, c: (b"[]", {"content-type": "application/json"}), 422),
        ("not a session", lambda s, c: _chat("forged", c), 401),
        (
            "form body",
            lambda s, c: (b"session=x&text=y", {"content-type": "application/x-www-form-urlencoded"}),
            422,
        ),
    ],
)
async def test_a_refused_web_chat_message_gets_the_same_error(apps, case, make, status) -> None:  # type: ignore[no-untyped-def]
    session = await _session(apps[0])
    answer = await _both(apps, "/webchat/t_web/messages", lambda c: make(session, c))
    assert answer[0] == status, (case, answer)


async def test_an_unknown_web_chat_channel_is_404_alike(apps) -> None:  # type: ignore[no-untyped-def]
    session = await _session(apps[0])
    answer = await _both(apps, "/webchat/nowhere/messages", lambda c: _chat(session, c))
    assert answer[0] == 404
