"""Issue 9: a tenant token cannot make the server read its environment; tenant secrets are sealed.

Everything goes over REST with a tenant's own token (and an admin token where the platform may do
more), on SQLite and PostgreSQL, with a fake Meta Graph API on 127.0.0.1 for the replies.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from frontdesk.config import tenant_secrets
from frontdesk.security.tokens import SYSTEM, create_token
from frontdesk.store.tables import audit_log, tenants
from tests.conftest import TEST_KEY, make_settings
from tests.fakes import meta_graph
from tests.helpers import wait_for
from tests.providers import PHONE_NUMBER_ID, meta_signed, whatsapp_text

fake_meta = meta_graph.fake_meta
TENANT = "acme"
MINE = "FRONTDESK_TENANT_ACME__"  # the tenant's own variables
APP_SECRET = "acme-app-secret"  # the tenant's own Meta app: it can sign webhooks itself
CALENDAR = {
    "services": [{"name": "Haircut", "duration_minutes": 30}],
    "hours": {"mon": ["09:00-17:00"]},
}


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    # The operator opens the fake Graph API's host, so a tenant may point its channel there: what is
    # tested here is the environment, not the base URL (tests/integration/channels/test_media_guard.py).
    return make_settings(database_url, http_actions_allow="127.0.0.1")


@pytest.fixture(autouse=True)
def server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a deployment has in its environment: the server's own key, and one variable of the tenant's.
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", TEST_KEY)
    monkeypatch.setenv(MINE + "SET", "a-value-the-operator-set")
    monkeypatch.delenv(MINE + "UNSET", raising=False)


@pytest.fixture
async def tenant(runtime, client: httpx.AsyncClient) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The tenant's token as request headers (``client`` itself carries an admin token)."""
    r = await client.post("/api/v1/tenants", json={"tenant_id": TENANT})
    assert r.status_code == 201, r.text
    async with runtime.db.write() as conn:
        _, token = await create_token(conn, TENANT)
    return {"Authorization": f"Bearer {token}"}


def meta_doc(base_url: str, **credentials: str) -> dict[str, Any]:
    creds = {"access_token": "EAAG-fake-token", "app_secret": APP_SECRET, "verify_token": "acme-verify"}
    return {
        "agents": [{"agent_id": "acme_faq", "agent_name": "FAQ", "kind": "faq"}],
        "channels": [
            {
                "channel_id": "acme-wa",
                "channel_name": "WhatsApp",
                "channel_type": "whatsapp",
                "provider": "meta",
                "phone_number": "+972123456789",
                "routing_key": PHONE_NUMBER_ID,
                "credentials": {**creds, **credentials},
                "settings": {"api_base_url": base_url},
            }
        ],
        "mappings": [
            {"mapping_id": "acme-m", "agent_id": "acme_faq", "channel_id": "acme-wa", "is_primary": True}
        ],
    }


async def post_webhook(client: httpx.AsyncClient, message_id: str) -> httpx.Response:
    raw, headers = meta_signed(whatsapp_text("hello", message_id), secret=APP_SECRET)
    return await client.post("/webhooks/meta", content=raw, headers=headers)


def refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    text = r.text
    assert field in text and "set up by the platform operator" in text
    assert TEST_KEY not in text and "is not set" not in text


async def test_the_repro_the_reply_never_carries_the_servers_key(  # type: ignore[no-untyped-def]
    client, tenant, fake_meta
) -> None:
    doc = meta_doc(fake_meta.base_url, access_token="${FRONTDESK_SECRET_KEY}")
    r = await client.post("/api/v1/config/import", json=doc, headers=tenant)
    got = await post_webhook(client, "wamid.repro-1")
    if got.status_code == 200:  # the old code took the import: give the reply time to go out
        await asyncio.sleep(2.0)
    assert all(TEST_KEY not in (q.headers.get("authorization") or "") for q in fake_meta.requests)
    refused(r, "credentials.access_token")
    assert got.status_code == 404  # nothing was written

    # The same channel with the token given as a value works, and sends that value.
    r = await client.post("/api/v1/config/import", json=meta_doc(fake_meta.base_url), headers=tenant)
    assert r.status_code == 200, r.text
    assert (await post_webhook(client, "wamid.repro-2")).status_code == 200

    async def sent() -> int:
        return len(fake_meta.sent)

    await wait_for(sent)
    assert fake_meta.sent[0].headers["authorization"] == "Bearer EAAG-fake-token"


async def test_a_dry_run_answers_the_same_for_set_and_unset_variables(  # type: ignore[no-untyped-def]
    client, tenant, fake_meta
) -> None:
    answers = []
    for name in (MINE + "SET", MINE + "UNSET", "FRONTDESK_SECRET_KEY", "FRONTDESK_NO_SUCH_VARIABLE"):
        doc = meta_doc(fake_meta.base_url, app_secret="${" + name + "}")
        r = await client.post("/api/v1/config/import?dry_run=true", json=doc, headers=tenant)
        answers.append((r.status_code, r.text.replace(name, "NAME")))
    assert len(set(answers)) == 1, answers
    assert answers[0][0] == 422 and "set up by the platform operator" in answers[0][1]


async def test_a_verify_token_reference_is_refused_and_confirms_nothing(  # type: ignore[no-untyped-def]
    client, tenant, fake_meta
) -> None:
    doc = meta_doc(fake_meta.base_url, verify_token="${FRONTDESK_SECRET_KEY}")
    r = await client.post("/api/v1/config/import", json=doc, headers=tenant)
    params = {"hub.mode": "subscribe", "hub.verify_token": TEST_KEY, "hub.challenge": "1158201444"}
    handshake = await client.get("/webhooks/meta", params=params)
    assert handshake.status_code == 403 and "1158201444" not in handshake.text
    refused(r, "credentials.verify_token")


def llm_agent(agent_id: str, key_env: str) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "agent_name": "LLM",
        "kind": "llm",
        "tenant_id": TENANT,
        "config": {"model": "m", "base_url": "https://llm.example.com/v1", "api_key_env": key_env},
    }


async def test_llm_api_key_env_is_the_platforms_and_only_the_tenants_variables(  # type: ignore[no-untyped-def]
    client, tenant
) -> None:
    for name in ("FRONTDESK_SECRET_KEY", MINE + "SET"):
        r = await client.post("/api/v1/agents", json=llm_agent("acme_llm", name), headers=tenant)
        refused(r, "config.api_key_env")
    for name in (
        "FRONTDESK_SECRET_KEY",
        "FRONTDESK_DATABASE_URL",
        "FRONTDESK_TENANT_OTHER__KEY",
        "OPENAI_API_KEY",
    ):
        r = await client.post("/api/v1/agents", json=llm_agent("acme_llm", name))
        assert r.status_code == 422 and "is not this tenant's" in r.text, r.text
    r = await client.post("/api/v1/agents", json=llm_agent("acme_llm", MINE + "SET"))
    assert r.status_code == 201, r.text

    # The tenant may change the rest of the agent and keep the operator's reference, not change it.
    r = await client.patch(
        "/api/v1/agents/acme_llm", json={"config": {"instructions": "Be brief."}}, headers=tenant
    )
    assert r.status_code == 200 and r.json()["config"]["api_key_env"] == MINE + "SET", r.text
    patch = {"config": {"api_key_env": "FRONTDESK_SECRET_KEY"}}
    refused(await client.patch("/api/v1/agents/acme_llm", json=patch, headers=tenant), "config.api_key_env")


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"caldav": {"url": "https://dav.example.com/c/", "password_env": "{name}"}}, "caldav.password_env"),
        ({"google": {"access_token_env": "{name}"}}, "google.access_token_env"),
        (
            {"google": {"refresh_token": "r", "client_id": "c", "client_secret_env": "{name}"}},
            "google.client_secret_env",
        ),
    ],
)
async def test_calendar_env_settings_are_the_platforms_only(  # type: ignore[no-untyped-def]
    client, tenant, block: dict[str, Any], field: str
) -> None:
    def settings(name: str) -> dict[str, Any]:
        filled = json.loads(json.dumps(block).replace("{name}", name))
        return {"settings": {"calendar": {**CALENDAR, **filled}}}

    url = f"/api/v1/tenants/{TENANT}"
    for name in ("FRONTDESK_SECRET_KEY", MINE + "SET"):
        refused(await client.patch(url, json=settings(name), headers=tenant), f"settings.calendar.{field}")
    r = await client.patch(url, json=settings("FRONTDESK_SECRET_KEY"))
    assert r.status_code == 422 and "is not this tenant's" in r.text, r.text
    r = await client.patch(url, json=settings(MINE + "SET"))
    assert r.status_code == 200, r.text
    # A tenant's later change elsewhere in its settings keeps the operator's reference.
    r = await client.patch(url, json={"settings": {"away_message": "Back soon"}}, headers=tenant)
    assert r.status_code == 200, r.text


async def test_http_action_env_headers_are_the_platforms_only_with_the_legacy_alias(  # type: ignore[no-untyped-def]
    client, tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_HTTP_ACTIONS_ALLOW", "127.0.0.1")

    def actions(name: str) -> dict[str, Any]:
        action = {
            "name": "crm",
            "description": "CRM lookup",
            "url": "http://127.0.0.1:9/p",
            "headers": {"Authorization": "Bearer ${env:" + name + "}"},
        }
        return {"settings": {"http_actions": [action]}}

    url = f"/api/v1/tenants/{TENANT}"
    for name in ("FRONTDESK_SECRET_KEY", MINE + "CRM", "FRONTDESK_ACTION_ACME__CRM"):
        refused(await client.patch(url, json=actions(name), headers=tenant), "headers.Authorization")
    r = await client.patch(url, json=actions("FRONTDESK_SECRET_KEY"))
    assert r.status_code == 422 and "is not this tenant's" in r.text, r.text
    for name in (MINE + "CRM", "FRONTDESK_ACTION_ACME__CRM"):  # the per-tenant prefix, and the legacy one
        assert (await client.patch(url, json=actions(name))).status_code == 200


async def raw_settings(runtime) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as conn:
        return (
            await conn.execute(sa.select(tenants.c.settings).where(tenants.c.tenant_id == TENANT))
        ).scalar_one()


async def test_tenant_secrets_are_sealed_shown_as_flags_and_redacted_in_the_audit_log(  # type: ignore[no-untyped-def]
    runtime, client, tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_HTTP_ACTIONS_ALLOW", "127.0.0.1")
    action = {
        "name": "crm",
        "description": "CRM lookup",
        "url": "http://127.0.0.1:9/p",
        "headers": {"Authorization": "Bearer crm-s3cret"},
    }
    caldav = {"url": "https://dav.example.com/c/", "username": "shop", "password": "dav-s3cret"}
    settings = {"calendar": {**CALENDAR, "caldav": caldav}, "http_actions": [action]}
    url = f"/api/v1/tenants/{TENANT}"
    r = await client.patch(url, json={"settings": settings}, headers=tenant)
    assert r.status_code == 200, r.text
    secrets = ("dav-s3cret", "crm-s3cret")

    stored = await raw_settings(runtime)
    assert not any(s in json.dumps(stored) for s in secrets)  # encrypted at rest
    assert tenant_secrets.unseal(stored, runtime.secrets)["calendar"]["caldav"]["password"] == "dav-s3cret"

    view = (await client.get(url, headers=tenant)).json()
    assert view["settings"]["calendar"]["caldav"]["password_set"] is True
    assert view["settings"]["http_actions"][0]["headers_set"] == ["Authorization"]
    exported = await client.get("/api/v1/config/export", headers=tenant)
    assert "${" + MINE + "SETTINGS_CALENDAR_CALDAV_PASSWORD}" in exported.text
    assert "${" + MINE + "ACTION_CRM_AUTHORIZATION}" in exported.text

    # The view written back keeps the secrets; so does the tenant re-importing its own export.
    assert (await client.patch(url, json={"settings": view["settings"]}, headers=tenant)).status_code == 200
    r = await client.post("/api/v1/config/import", json=exported.json(), headers=tenant)
    assert r.status_code == 200 and r.json()["updated"] == {}, r.text
    opened = tenant_secrets.unseal(await raw_settings(runtime), runtime.secrets)
    assert opened["http_actions"][0]["headers"] == {"Authorization": "Bearer crm-s3cret"}

    # Removed, it leaves no trace in the audit log either.
    r = await client.patch(
        url, json={"settings": {"calendar": {"caldav": {"password": None}}}}, headers=tenant
    )
    assert r.status_code == 200 and "password_set" not in json.dumps(r.json())
    audit = await client.get(f"/api/v1/audit?tenant_id={TENANT}", headers=tenant)
    assert audit.status_code == 200 and audit.json()["items"]
    async with runtime.db.read() as conn:
        rows = (await conn.execute(sa.select(audit_log.c.before, audit_log.c.after))).all()
    for text in (audit.text, exported.text, json.dumps([list(r) for r in rows], default=str)):
        assert not any(s in text for s in secrets)


async def test_reimporting_an_export_keeps_every_stored_secret_and_reads_nothing(  # type: ignore[no-untyped-def]
    runtime, client, tenant, fake_meta, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await client.post("/api/v1/config/import", json=meta_doc(fake_meta.base_url), headers=tenant)
    assert r.status_code == 200, r.text
    exported = (await client.get("/api/v1/config/export", headers=tenant)).json()
    placeholder = "${" + MINE + "ACME_WA_ACCESS_TOKEN}"
    assert exported["channels"][0]["credentials"]["access_token"] == placeholder

    # Even with the placeholder's variable set, a tenant's import keeps what is stored.
    monkeypatch.setenv(MINE + "ACME_WA_ACCESS_TOKEN", "from-the-environment")
    for dry in ("true", "false"):
        r = await client.post(f"/api/v1/config/import?dry_run={dry}", json=exported, headers=tenant)
        assert r.status_code == 200 and r.json()["updated"] == {}, r.text
    # An export made before the per-tenant prefix re-imports too.
    legacy = json.loads(json.dumps(exported).replace(placeholder, "${FRONTDESK_ACME_WA_ACCESS_TOKEN}"))
    r = await client.post("/api/v1/config/import", json=legacy, headers=tenant)
    assert r.status_code == 200 and r.json()["updated"] == {}, r.text

    # The platform's import reads the tenant's placeholder variable.
    r = await client.post("/api/v1/config/import", json=exported)
    assert r.status_code == 200 and r.json()["updated"] == {"channel": 1}, r.text
    channel = await runtime.config.get("channel", "acme-wa", principal=SYSTEM)
    assert channel["credentials_set"] == ["access_token", "app_secret", "verify_token"]
    creds = runtime.cache.credentials(await runtime.cache.channel("acme-wa"))
    assert creds["access_token"] == "from-the-environment"
