"""ConfigService: writes, merge patches, secrets, audit, revisions, scoping, phone routing, races."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from frontdesk.config import checks
from frontdesk.config.service import ConfigService
from frontdesk.config.writes import merge_patch
from frontdesk.errors import BadRequest, ConfigError, ConflictError, Forbidden, NotFound
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store.tables import audit_log, channels, tenants

A = Principal(tenant_id="a", token_id="tok_a", name="shop a")
B = Principal(tenant_id="b", token_id="tok_b")


def channel(cid: str, phone: str, **extra: Any) -> dict[str, Any]:
    base = {
        "channel_id": cid,
        "channel_name": cid,
        "channel_type": "sms",
        "provider": "infobip",
        "phone_number": phone,
    }
    return {**base, **extra}


@pytest.fixture
async def svc(service: ConfigService) -> ConfigService:
    for t in ("a", "b"):
        await service.create("tenant", {"tenant_id": t, "name": t.upper()}, principal=SYSTEM)
    return service


async def revision(svc: ConfigService, tenant: str) -> int:
    async with svc.db.read() as conn:
        return (
            await conn.execute(sa.select(tenants.c.revision).where(tenants.c.tenant_id == tenant))
        ).scalar_one()


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2]}
    assert merge_patch(target, {"b": {"y": None, "z": 3}, "c": [3], "a": None}) == {
        "b": {"x": 1, "z": 3},
        "c": [3],
    }


async def test_omitted_tenant_is_the_callers(svc: ConfigService) -> None:
    mine = await svc.create("agent", {"agent_id": "asst_1", "agent_name": "one"}, principal=A)
    admin = await svc.create("agent", {"agent_id": "asst_2", "agent_name": "two"}, principal=SYSTEM)
    assert (mine["tenant_id"], admin["tenant_id"]) == ("a", "default")


async def test_credentials_are_write_only_encrypted_and_merged(svc: ConfigService, changes: list) -> None:
    created = await svc.create(
        "channel",
        channel("c1", "+14155550100", credentials={"auth_token": "s3cret", "sid": "AC1"}),
        principal=A,
    )
    assert created["credentials_set"] == ["auth_token", "sid"] and "credentials" not in created
    async with svc.db.read() as conn:
        stored = (await conn.execute(sa.select(channels.c.credentials))).scalar_one()
        audits = (await conn.execute(sa.select(audit_log.c.before, audit_log.c.after))).all()
    assert "s3cret" not in stored
    assert all("s3cret" not in repr(row) for row in audits)
    assert "s3cret" not in repr(changes)

    patched = await svc.update("channel", "c1", {"credentials": {"sid": None, "api_key": "k"}}, principal=A)
    assert patched["credentials_set"] == ["api_key", "auth_token"]
    async with svc.db.read() as conn:
        row = (await conn.execute(sa.select(channels))).first()
    assert svc.secrets.decrypt_json(row.credentials) == {"api_key": "k", "auth_token": "s3cret"}
    assert (await svc.get("channel", "c1", principal=A)) == patched


async def test_patch_merges_and_revalidates(svc: ConfigService) -> None:
    await svc.create(
        "agent",
        {
            "agent_id": "asst_1",
            "agent_name": "one",
            "config": {"confidence_threshold": 0.5, "fallback_text": "hi"},
        },
        principal=A,
    )
    out = await svc.update("agent", "asst_1", {"config": {"confidence_threshold": 0.7}}, principal=A)
    assert out["config"] == {"confidence_threshold": 0.7, "fallback_text": "hi"}
    with pytest.raises(ConfigError, match="confidence_threshold"):
        await svc.update("agent", "asst_1", {"config": {"confidence_threshold": 2}}, principal=A)


async def test_every_write_is_audited_bumps_revision_and_notifies(svc: ConfigService, changes: list) -> None:
    changes.clear()
    start = await revision(svc, "a")
    await svc.create("agent", {"agent_id": "asst_1", "agent_name": "one"}, principal=A)
    await svc.update("agent", "asst_1", {"status": "paused"}, principal=A)
    await svc.update("agent", "asst_1", {"status": "paused"}, principal=A)  # no change: no write
    await svc.delete("agent", "asst_1", principal=A)
    assert await revision(svc, "a") == start + 3
    entries, total = await svc.audit(principal=A, object_type="agent")
    assert total == 3
    assert [(e["action"], e["object_id"], e["actor"]) for e in entries] == [
        ("delete", "asst_1", "token:tok_a (shop a)"),
        ("update", "asst_1", "token:tok_a (shop a)"),
        ("create", "asst_1", "token:tok_a (shop a)"),
    ]
    assert entries[1]["before"]["status"] == "active" and entries[1]["after"]["status"] == "paused"
    assert [(c[0], c[1]) for c in changes] == [("agent", "create"), ("agent", "update"), ("agent", "delete")]
    assert changes[1][2]["status"] == "active" and changes[1][3]["status"] == "paused"
    assert (await svc.audit(principal=B, object_type="agent"))[1] == 0


async def test_deleting_an_agent_deletes_and_audits_its_mappings(svc: ConfigService, changes: list) -> None:
    await svc.create("agent", {"agent_id": "asst_1", "agent_name": "one"}, principal=A)
    await svc.create("channel", channel("c1", "+14155550100"), principal=A)
    await svc.create("mapping", {"mapping_id": "m1", "agent_id": "asst_1", "channel_id": "c1"}, principal=A)
    changes.clear()
    await svc.delete("agent", "asst_1", principal=A)
    assert [(c[0], c[1]) for c in changes] == [("mapping", "delete"), ("agent", "delete")]
    assert await svc.list("mapping", principal=A) == []
    entries, _ = await svc.audit(principal=A, object_type="mapping")
    assert entries[0]["action"] == "delete" and entries[0]["object_id"] == "m1"


async def test_tenant_scoping(svc: ConfigService) -> None:
    await svc.create("agent", {"agent_id": "asst_1", "agent_name": "one"}, principal=A)
    for call in (
        svc.get("agent", "asst_1", principal=B),
        svc.update("agent", "asst_1", {"agent_name": "x"}, principal=B),
        svc.delete("agent", "asst_1", principal=B),
        svc.get("tenant", "a", principal=B),
        svc.list("agent", principal=B, tenant_id="a"),
    ):
        with pytest.raises(NotFound):
            await call
    assert await svc.list("agent", principal=B) == []
    assert [t["tenant_id"] for t in await svc.list("tenant", principal=B)] == ["b"]
    with pytest.raises(Forbidden):
        await svc.create("tenant", {"tenant_id": "c"}, principal=B)
    with pytest.raises(Forbidden):
        await svc.delete("tenant", "b", principal=B)
    assert (await svc.update("tenant", "b", {"timezone": "Europe/Paris"}, principal=B))[
        "timezone"
    ] == "Europe/Paris"
    with pytest.raises(ConfigError, match="default tenant cannot be deleted"):
        await svc.delete("tenant", "default", principal=SYSTEM)


async def test_list_filters_and_pages_in_sql(svc: ConfigService) -> None:
    for i in range(5):
        await svc.create(
            "agent",
            {"agent_id": f"asst_{i}", "agent_name": str(i), "status": "paused" if i % 2 else "active"},
            principal=A,
        )
    await svc.create(
        "knowledge",
        {"id": "k1", "question": "Opening hours?", "answer": "9-5", "tags": ["hours"]},
        principal=A,
    )
    await svc.create(
        "knowledge",
        {"id": "k2", "question": "Parking?", "answer": "Free", "tags": ["venue", "car"]},
        principal=A,
    )
    page = await svc.list("agent", principal=A, skip=1, limit=2)
    assert [a["agent_id"] for a in page] == ["asst_1", "asst_2"]
    assert await svc.count("agent", principal=A, status="paused") == 2
    assert [k["id"] for k in await svc.list("knowledge", principal=A, tag="car")] == ["k2"]
    assert [k["id"] for k in await svc.list("knowledge", principal=A, q="OPENING")] == ["k1"]
    with pytest.raises(BadRequest, match="unknown filter"):
        await svc.list("agent", principal=A, colour="red")


async def test_phone_lookup_prefers_primary_then_priority(svc: ConfigService) -> None:
    for i in (1, 2, 3):
        await svc.create("agent", {"agent_id": f"asst_{i}", "agent_name": str(i)}, principal=A)
    await svc.create("channel", channel("c1", "+14155550100"), principal=A)
    assert await svc.get_agent_for_phone("+14155550100") is None
    m = {"channel_id": "c1"}
    await svc.create("mapping", {**m, "mapping_id": "m1", "agent_id": "asst_1", "priority": 5}, principal=A)
    await svc.create("mapping", {**m, "mapping_id": "m2", "agent_id": "asst_2", "priority": 1}, principal=A)
    assert (await svc.get_agent_for_phone("+1 415 555 0100"))["agent_id"] == "asst_2"
    await svc.create(
        "mapping", {**m, "mapping_id": "m3", "agent_id": "asst_3", "is_primary": True}, principal=A
    )
    assert (await svc.get_agent_for_phone("+14155550100"))["agent_id"] == "asst_3"
    assert await svc.get_agent_for_phone("+14155550100", principal=B) is None
    await svc.update("channel", "c1", {"active": False}, principal=A)
    assert await svc.get_agent_for_phone("+14155550100") is None
    with pytest.raises(ConfigError, match=r"E\.164"):
        await svc.get_agent_for_phone("not a number")


async def test_a_lost_race_reads_as_the_rule(svc: ConfigService, monkeypatch: pytest.MonkeyPatch) -> None:
    """If another writer gets in between the checks and the insert, the database's partial unique
    index refuses it and the caller still gets the rule's message, with nothing written."""
    await svc.create("channel", channel("c1", "+14155550100"), principal=A)
    real = checks.find_issues
    calls = []

    async def blind_first(*args: Any, **kwargs: Any) -> list:
        calls.append(1)
        return [] if len(calls) == 1 else await real(*args, **kwargs)

    monkeypatch.setattr(checks, "find_issues", blind_first)
    with pytest.raises(ConflictError, match="Phone number \\+14155550100 already used by channel c1"):
        await svc.create("channel", channel("c2", "+14155550100", routing_key="other"), principal=A)
    assert len(calls) == 2
    assert [c["channel_id"] for c in await svc.list("channel", principal=A)] == ["c1"]
    assert (await svc.audit(principal=A, object_type="channel"))[1] == 1
