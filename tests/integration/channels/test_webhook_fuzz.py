"""Random bodies, headers and encodings at every webhook: never a 5xx, never a stored row unsigned."""

from __future__ import annotations

import asyncio
import json

import httpx
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.app import create_app
from frontdesk.runtime import Runtime
from frontdesk.store.tables import messages
from tests.conftest import make_settings
from tests.helpers import setup_webchat
from tests.providers import add_meta_channel, add_twilio_channel, meta_signed, whatsapp_text

PATHS = [
    "/webhooks/meta",
    "/webhook",
    "/webhooks/twilio",
    "/api/v1/channels/whatsapp/webhook",
    "/webhooks/twilio/voice",
]
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/json; charset=latin-1",
    "multipart/form-data; boundary=x",
    "",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _near_miss(value: object) -> bytes:
    """A real WhatsApp payload with one part replaced: the shapes a parser actually meets."""
    body = whatsapp_text("hello", "wamid.fuzz")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["text"] = value
    return json.dumps(body, default=str).encode()


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v, default=str).encode()),
    json_values.map(_near_miss),
    st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=8).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass")
    ),
)
headers = st.fixed_dictionaries(
    {"content-type": st.sampled_from(CONTENT_TYPES)},
    optional={
        "x-hub-signature-256": st.one_of(st.text(max_size=80), st.just("sha256=" + "0" * 64)),
        "x-twilio-signature": st.text(max_size=40),
    },
).map(lambda h: {k: v.encode("latin-1", "replace") for k, v in h.items()})


def test_fuzzed_webhooks_never_fail_the_server_or_store_anything(database_url: str) -> None:
    # Synchronous on purpose: hypothesis drives the examples, each one run on this test's own loop.
    loop = asyncio.new_event_loop()
    rt = Runtime(make_settings(database_url))
    loop.run_until_complete(_prepare(rt))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime=rt)), base_url="http://t")
    seen: set[int] = set()

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(PATHS), body=bodies, hdrs=headers, query=st.text(max_size=30))
    def check(path: str, body: bytes, hdrs: dict[str, bytes], query: str) -> None:
        r = loop.run_until_complete(client.post(path, params={"q": query}, content=body, headers=hdrs))
        seen.add(r.status_code)
        assert r.status_code < 500, (path, body, hdrs, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/json") and "Traceback" not in r.text

    try:
        check()
        assert loop.run_until_complete(_count(rt)) == 0
        assert seen <= {400, 401, 403, 404, 413, 415, 422}, seen
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(rt.stop())
        loop.close()


async def _prepare(rt: Runtime) -> None:
    await rt.start()
    await setup_webchat(rt)
    await add_meta_channel(rt, "http://127.0.0.1:9")
    await add_twilio_channel(rt, "http://127.0.0.1:9", number="+14123456789")
    await add_twilio_channel(
        rt, "http://127.0.0.1:9", channel_id="v", channel_type="voice", number="+14123456780"
    )


async def _count(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(messages))).scalar()


# Every character, NUL and lone surrogates included (JSON escapes them as \u0000 and \ud800).
unstorable = st.sampled_from(["\x00", "\ud800", "\udc00", "\udfff"])
# Built from a list: st.text leaves surrogates out whatever its alphabet.
any_text = st.lists(unstorable | st.characters(codec=None, categories=None), max_size=30).map("".join)


def _signed_whatsapp(text: str, sender_name: str, message_id: str) -> tuple[bytes, dict[str, str]]:
    body = whatsapp_text(text, message_id)
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = sender_name
    return meta_signed(body)


def test_signed_webhooks_with_any_text_are_stored_never_a_5xx(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    rt = Runtime(make_settings(database_url, run_workers=False))
    loop.run_until_complete(_prepare(rt))
    transport = httpx.ASGITransport(app=create_app(runtime=rt), raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://t")
    sent: set[str] = set()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=any_text, name=any_text, message_id=any_text.filter(bool))
    def check(text: str, name: str, message_id: str) -> None:
        raw, hdrs = _signed_whatsapp(text, name, message_id)
        r = loop.run_until_complete(client.post("/webhooks/meta", content=raw, headers=hdrs))
        assert r.status_code == 200, (text, name, message_id, r.text)
        sent.add(message_id)

    try:
        check()
        # Ids that differ only by an unstorable character may share a stored id: at most one row each.
        assert 0 < loop.run_until_complete(_count(rt)) <= len(sent)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(rt.stop())
        loop.close()
