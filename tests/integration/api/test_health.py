"""GET /health: open and without tenant data; the per-channel detail needs a token, scoped to it."""

from __future__ import annotations

from frontdesk.security.tokens import create_token
from tests.helpers import setup_webchat

SEND_ERROR = "(#190) Error validating access token: session expired for acme-secret-page"


async def _two_tenants_with_send_errors(runtime) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    a = await setup_webchat(runtime, tenant_id="tenant-a", prefix="alpha")
    b = await setup_webchat(runtime, tenant_id="tenant-b", prefix="bravo")
    for ids in (a, b):
        channel = await runtime.cache.channel(ids["channel_id"])
        await runtime.channel_health.send_outcome(channel, "failed", SEND_ERROR, "190", needs_attention=True)
    return a["channel_id"], b["channel_id"]


async def test_open_health_shows_no_tenant_data(client, runtime) -> None:  # type: ignore[no-untyped-def]
    a, b = await _two_tenants_with_send_errors(runtime)
    for headers in ({"Authorization": ""}, {}):  # without a token, and even with the admin's
        r = await client.get("/health", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"status", "version", "database", "queue", "workers"}
        assert body["status"] == "ok" and body["database"]["ok"] is True
        for secret in (a, b, "tenant-a", "190", "expired", "acme-secret-page"):
            assert secret not in r.text


async def test_health_detail_needs_a_token_and_is_scoped_to_its_tenant(client, runtime) -> None:  # type: ignore[no-untyped-def]
    a, b = await _two_tenants_with_send_errors(runtime)
    r = await client.get("/health", params={"detail": "true"}, headers={"Authorization": ""})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await client.get("/health", params={"detail": "true"}, headers={"Authorization": "Bearer fd_wrong"})
    assert r.status_code == 401

    everything = (await client.get("/health", params={"detail": "true"})).json()  # the admin token
    assert set(everything["channels"]) == {a, b}
    assert everything["channels"][a]["last_send_error"] == SEND_ERROR
    assert everything["routing"] == {"active_channels": 2, "active_routes": 2, "agents": 2}

    async with runtime.db.write() as conn:
        _, token_a = await create_token(conn, "tenant-a", "a")
    r = await client.get("/health", params={"detail": "true"}, headers={"Authorization": f"Bearer {token_a}"})
    assert r.status_code == 200, r.text
    own = r.json()
    assert set(own["channels"]) == {a}
    assert own["routing"] == {"active_channels": 1, "active_routes": 1, "agents": 1}
    assert b not in r.text and "tenant-b" not in r.text
