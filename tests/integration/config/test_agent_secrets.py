"""Agent secrets: encrypted at rest, never returned, exported as placeholders, re-imported from env;
and the per-kind checks of remote and router agents."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from frontdesk.config.agent_secrets import agent_secret
from frontdesk.config.service import ConfigService
from frontdesk.errors import ConfigError
from frontdesk.model.routing import AgentInfo
from frontdesk.security.secrets import SecretBox
from frontdesk.security.tokens import SYSTEM
from frontdesk.store.tables import agents, audit_log

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REMOTE = {
    "agent_id": "asst_remote",
    "agent_name": "Remote",
    "kind": "remote",
    "config": {"url": "https://agents.example.com/turn", "secret": SECRET, "timeout_s": 5},
}
LLM = {
    "agent_id": "asst_llm",
    "agent_name": "LLM",
    "kind": "llm",
    "config": {"base_url": "https://llm.example.com/v1", "model": "m", "api_key": "sk-llm-key"},
}


def router(routes: list[str], **config: Any) -> dict[str, Any]:
    llm = {"base_url": "https://llm.example.com/v1", "model": "small", "api_key": "sk-router-key"}
    return {
        "agent_id": "asst_router",
        "agent_name": "Router",
        "kind": "router",
        "config": {"routes": [{"agent_id": r} for r in routes], "llm": llm, **config},
    }


async def stored(service: ConfigService, agent_id: str) -> AgentInfo:
    async with service.db.read() as conn:
        row = (await conn.execute(sa.select(agents).where(agents.c.agent_id == agent_id))).one()
    return AgentInfo(row.agent_id, row.tenant_id, row.agent_name, row.kind, row.status, row.config)


def box(service: ConfigService) -> SecretBox:
    return service.secrets


async def test_secrets_are_never_returned(api: Any, service: ConfigService) -> None:
    h = api.auth_as("a")
    created = [await api.post("/api/v1/agents", json=body, headers=h) for body in (REMOTE, LLM)]
    assert [r.status_code for r in created] == [201, 201], created[0].text
    r = await api.post("/api/v1/agents", json=router(["asst_remote", "asst_llm"]), headers=h)
    assert r.status_code == 201, r.text
    assert created[0].json()["config"] == {
        "url": "https://agents.example.com/turn",
        "secret_set": True,
        "timeout_s": 5,
    }
    assert created[1].json()["config"]["api_key_set"] is True
    assert r.json()["config"]["llm"] == {
        "base_url": "https://llm.example.com/v1",
        "model": "small",
        "api_key_set": True,
    }
    views = [
        (await api.get("/api/v1/agents", headers=h)).text,
        (await api.get("/api/v1/agents/asst_router", headers=h)).text,
        (await api.get("/api/v1/audit", headers=h)).text,
        (await api.get("/api/v1/config/export", headers=h)).text,
        (await api.get("/config/api/agents", headers=h)).text,
        json.dumps(await service.snapshot()),
    ]
    async with service.db.read() as conn:
        views.append(json.dumps([list(r) for r in (await conn.execute(sa.select(agents.c.config))).all()]))
        views.append(json.dumps([list(r) for r in (await conn.execute(sa.select(audit_log.c.after))).all()]))
    for text in views:
        for secret in (SECRET, "sk-llm-key", "sk-router-key"):
            assert secret not in text
    # At run time the agents read them back in clear.
    assert agent_secret(box(service), await stored(service, "asst_remote"), "secret") == SECRET
    assert agent_secret(box(service), await stored(service, "asst_llm"), "api_key") == "sk-llm-key"
    assert agent_secret(box(service), await stored(service, "asst_router"), "llm.api_key") == "sk-router-key"
    assert agent_secret(box(service), await stored(service, "asst_router"), "secret") is None


async def test_updates_keep_replace_and_remove_secrets(service: ConfigService) -> None:
    await service.create("agent", REMOTE, principal=SYSTEM)
    view = await service.get("agent", "asst_remote", principal=SYSTEM)
    # Sending a view back (with its *_set flag) changes nothing.
    again = await service.update("agent", "asst_remote", {"config": view["config"]}, principal=SYSTEM)
    assert again == view
    assert agent_secret(box(service), await stored(service, "asst_remote"), "secret") == SECRET
    await service.update("agent", "asst_remote", {"config": {"timeout_s": 8}}, principal=SYSTEM)
    assert agent_secret(box(service), await stored(service, "asst_remote"), "secret") == SECRET
    new = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    await service.update("agent", "asst_remote", {"config": {"secret": new}}, principal=SYSTEM)
    assert agent_secret(box(service), await stored(service, "asst_remote"), "secret") == new
    gone = await service.update("agent", "asst_remote", {"config": {"secret": None}}, principal=SYSTEM)
    assert "secret_set" not in gone["config"]
    assert agent_secret(box(service), await stored(service, "asst_remote"), "secret") is None


async def test_export_and_import_through_the_environment(
    service: ConfigService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.create("agent", REMOTE, principal=SYSTEM)
    await service.create("agent", router(["asst_remote"]), principal=SYSTEM)
    doc = await service.export("default")
    exported = {a["agent_id"]: a["config"] for a in doc["agents"]}
    assert exported["asst_remote"]["secret"] == "${FRONTDESK_TENANT_DEFAULT__AGENT_ASST_REMOTE_SECRET}"
    assert (
        exported["asst_router"]["llm"]["api_key"]
        == "${FRONTDESK_TENANT_DEFAULT__AGENT_ASST_ROUTER_LLM_API_KEY}"
    )

    # Unset variables keep what is stored: re-importing an export changes nothing.
    result = await service.import_(doc, principal=SYSTEM)
    assert (
        result["updated"] == {}
        and agent_secret(box(service), await stored(service, "asst_remote"), "secret") == SECRET
    )

    monkeypatch.setenv("FRONTDESK_TENANT_DEFAULT__AGENT_ASST_ROUTER_LLM_API_KEY", "sk-rotated")
    result = await service.import_(doc, principal=SYSTEM)
    assert result["updated"] == {"agent": 1}
    assert agent_secret(box(service), await stored(service, "asst_router"), "llm.api_key") == "sk-rotated"

    fresh = {
        **REMOTE,
        "agent_id": "asst_other",
        "config": {**REMOTE["config"], "secret": "${FRONTDESK_TENANT_DEFAULT__MISSING_VAR}"},
    }
    with pytest.raises(
        ConfigError,
        match=r"config\.secret of agent 'asst_other' refers to environment variable FRONTDESK_TENANT_\w+",
    ):
        await service.import_({"agents": [fresh]}, principal=SYSTEM)
    monkeypatch.setenv("FRONTDESK_TENANT_DEFAULT__MISSING_VAR", SECRET)
    await service.import_({"agents": [fresh]}, principal=SYSTEM)
    assert agent_secret(box(service), await stored(service, "asst_other"), "secret") == SECRET


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (router(["asst_nope"]), ["routes to agent 'asst_nope', which is not found in tenant 'default'"]),
        (router(["asst_b1"]), ["routes to agent 'asst_b1', which is not found in tenant 'default'"]),
        (router(["asst_router"]), ["config.routes.0.agent_id: a router cannot route to itself"]),
        (router(["asst_remote"], default_target="asst_x"), ["default_target 'asst_x'"]),
        ({**router([]), "config": {}}, ["config.routes: Field required"]),
        ({**REMOTE, "config": {"url": "http://agents.example.com/"}}, ["config.url", "must use https://"]),
        ({**REMOTE, "config": {**REMOTE["config"], "secret": "whsec_***"}}, ["config.secret", "base64"]),
        ({**REMOTE, "config": {**REMOTE["config"], "retries": 9}}, ["config.retries"]),
    ],
)
async def test_agent_config_checks(service: ConfigService, body: dict, fragments: list) -> None:
    await service.create("tenant", {"tenant_id": "b"}, principal=SYSTEM)
    await service.create(
        "agent", {"agent_id": "asst_b1", "agent_name": "B", "tenant_id": "b"}, principal=SYSTEM
    )
    await service.create("agent", REMOTE, principal=SYSTEM)
    with pytest.raises(ConfigError) as info:
        await service.create("agent", body, principal=SYSTEM)
    for fragment in fragments:
        assert fragment in info.value.message


async def test_routers_cannot_chain_and_dangling_routes_are_reported(service: ConfigService) -> None:
    await service.create("agent", REMOTE, principal=SYSTEM)
    await service.create("agent", router(["asst_remote"]), principal=SYSTEM)
    second = {**router(["asst_router"]), "agent_id": "asst_router2"}
    with pytest.raises(ConfigError, match="another router; routers cannot be chained"):
        await service.create("agent", second, principal=SYSTEM)
    await service.delete("agent", "asst_remote", principal=SYSTEM)
    report = await service.validate()
    assert [(e["code"], e["object_id"]) for e in report["errors"]] == [("unknown_route_agent", "asst_router")]
