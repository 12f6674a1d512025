"""A tenant names its own media URLs (it signs its own webhooks): none of them may reach the server's network.

The tenant's Twilio channel is its own: created with the tenant's token, default Twilio base URL,
its own auth token. Every media URL below is refused before anything connects to it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from frontdesk.app import create_app
from frontdesk.security.tokens import create_token
from frontdesk.store.tables import messages
from tests.conftest import make_settings
from tests.fakes.server import run_app
from tests.helpers import setup_webchat
from tests.providers import fixture_form, twilio_signed

PUBLIC = "http://frontdesk.test"
TENANT = "shop"
TENANT_TOKEN = "b" * 32  # the tenant's own Twilio auth token
SID = "AC" + "1" * 32
NUMBER = "+14155550123"


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, public_url=PUBLIC, run_workers=False)


@pytest.fixture
def internal() -> Iterator[str]:
    """A server on the operator's own network that a tenant must never read."""

    async def secret(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("internal secret")

    with run_app(Starlette(routes=[Route("/internal", secret)])) as url:
        yield url


@pytest.fixture
async def tenant_client(runtime):  # type: ignore[no-untyped-def]
    await setup_webchat(runtime, TENANT)
    async with runtime.db.write() as conn:
        _, token = await create_token(conn, TENANT, "shop")
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC, headers=headers) as c:
        channel = {
            "channel_id": "shop-sms",
            "channel_name": "Shop SMS",
            "channel_type": "sms",
            "provider": "twilio",
            "phone_number": NUMBER,
            "credentials": {"account_sid": SID, "auth_token": TENANT_TOKEN},
        }
        assert (await c.post("/api/v1/channels", json=channel)).status_code == 201
        mapping = {"mapping_id": "shop-sms-map", "agent_id": "t_faq", "channel_id": "shop-sms"}
        assert (await c.post("/api/v1/mappings", json=mapping)).status_code == 201
        yield c


async def _media_message(client, runtime, media_url: str, sid: str) -> int:  # type: ignore[no-untyped-def]
    form = fixture_form("twilio", "inbound_whatsapp_image.form")
    form.update(To=NUMBER, From="+31612345678", AccountSid=SID, MessageSid=sid, SmsSid=sid)
    form.update(SmsMessageSid=sid, MediaUrl0=media_url)
    body, headers = twilio_signed(f"{PUBLIC}/webhooks/twilio", form, TENANT_TOKEN)
    assert (await client.post("/webhooks/twilio", content=body, headers=headers)).status_code == 200
    async with runtime.db.read() as conn:
        return (
            await conn.execute(sa.select(messages.c.id).where(messages.c.provider_message_id == sid))
        ).scalar_one()


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "[::1]:{port}", "0.0.0.0:{port}", "2130706433:{port}", "169.254.169.254"]
)
async def test_media_urls_on_the_servers_network_are_refused(
    runtime, tenant_client, internal, host: str
) -> None:  # type: ignore[no-untyped-def]
    port = internal.rsplit(":", 1)[1]
    url = f"http://{host.format(port=port)}/internal"
    message_id = await _media_message(
        tenant_client, runtime, url, "MM" + str(abs(hash(host)))[:20].ljust(32, "0")
    )
    answer = await tenant_client.get(f"/api/v1/messages/{message_id}/media")
    assert answer.status_code == 403
    assert "internal secret" not in answer.text
    assert answer.json()["error"]["code"] == "blocked_destination"


async def test_a_public_host_that_is_not_twilios_is_refused_too(runtime, tenant_client) -> None:  # type: ignore[no-untyped-def]
    message_id = await _media_message(tenant_client, runtime, "https://example.com/cat.jpg", "MM" + "e" * 32)
    answer = await tenant_client.get(f"/api/v1/messages/{message_id}/media")
    assert answer.status_code == 403 and "does not serve media from example.com" in answer.text


async def test_a_tenant_cannot_point_its_channel_at_the_servers_network(tenant_client, internal) -> None:  # type: ignore[no-untyped-def]
    patch = {"settings": {"api_base_url": internal}}
    answer = await tenant_client.patch("/api/v1/channels/shop-sms", json=patch)
    assert answer.status_code == 422
    assert "api_base_url can only be set by the platform operator" in answer.json()["error"]["message"]
    assert (await tenant_client.get("/api/v1/channels/shop-sms")).json()["settings"] == {}
    # Twilio's own endpoint written out is fine.
    ok = await tenant_client.patch(
        "/api/v1/channels/shop-sms", json={"settings": {"api_base_url": "https://api.twilio.com"}}
    )
    assert ok.status_code == 200


async def test_nor_through_an_import(tenant_client) -> None:  # type: ignore[no-untyped-def]
    doc = {
        "version": 1,
        "channels": [
            {
                "channel_id": "shop-wa",
                "channel_name": "Shop WhatsApp",
                "channel_type": "whatsapp",
                "provider": "meta",
                "phone_number": "+14155550124",
                "routing_key": "555000111",
                "settings": {"api_base_url": "http://attacker.example"},
                "credentials": {"access_token": "t", "app_secret": "s", "verify_token": "v"},
            }
        ],
    }
    answer = await tenant_client.post("/api/v1/config/import", json=doc)
    assert answer.status_code == 422 and "operator" in answer.text
    assert (await tenant_client.get("/api/v1/channels/shop-wa")).status_code == 404


async def test_the_operator_may_point_a_channel_anywhere(client, tenant_client, internal) -> None:  # type: ignore[no-untyped-def]
    answer = await client.patch("/api/v1/channels/shop-sms", json={"settings": {"api_base_url": internal}})
    assert answer.status_code == 200
    # The tenant may still change its other settings while the operator's base URL stays.
    kept = await tenant_client.patch("/api/v1/channels/shop-sms", json={"channel_name": "Renamed"})
    assert kept.status_code == 200 and kept.json()["settings"]["api_base_url"] == internal


async def test_an_allow_listed_host_is_open_to_tenants(runtime, tenant_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "http_actions_allow", "twilio-proxy.internal")
    patch = {"settings": {"api_base_url": "http://twilio-proxy.internal:8080"}}
    assert (await tenant_client.patch("/api/v1/channels/shop-sms", json=patch)).status_code == 200
