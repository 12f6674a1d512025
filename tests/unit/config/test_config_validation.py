"""Every invalid configuration answers its documented message, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from frontdesk.config.service import ConfigService
from frontdesk.errors import ConfigError, ConflictError, NotFound
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store.db import Database
from frontdesk.store.tables import agents, audit_log, channels, knowledge, mappings, tenants

TENANT_B = Principal(tenant_id="b", token_id="tok_b")


async def state(db: Database) -> dict[str, Any]:
    """Row counts of every configuration table, the audit log, and every tenant's revision."""
    async with db.read() as conn:
        out: dict[str, Any] = {
            t.name: (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
            for t in (tenants, agents, channels, mappings, knowledge, audit_log)
        }
        out["revisions"] = dict(
            (await conn.execute(sa.select(tenants.c.tenant_id, tenants.c.revision))).all()
        )
    return out


def wa(channel_id: str, phone: str, tenant: str = "a", **extra: Any) -> dict[str, Any]:
    return {
        "channel_id": channel_id,
        "channel_name": channel_id,
        "channel_type": "whatsapp",
        "provider": "meta",
        "phone_number": phone,
        "tenant_id": tenant,
        "credentials": {"access_token": "t", "app_secret": "s", "verify_token": "v"},
        **extra,
    }


@pytest.fixture
async def seeded(service: ConfigService, changes: list) -> ConfigService:
    for t in ("a", "b"):
        await service.create("tenant", {"tenant_id": t}, principal=SYSTEM)
        await service.create(
            "agent", {"agent_id": f"asst_{t}", "agent_name": t, "tenant_id": t}, principal=SYSTEM
        )
    await service.create(
        "agent", {"agent_id": "asst_a2", "agent_name": "a2", "tenant_id": "a"}, principal=SYSTEM
    )
    await service.create("channel", wa("ch-a", "+1234567890", routing_key="pnid-1"), principal=SYSTEM)
    await service.create("channel", wa("ch-b", "+1234567891", tenant="b"), principal=SYSTEM)
    mapping = {
        "mapping_id": "m-a",
        "agent_id": "asst_a",
        "channel_id": "ch-a",
        "is_primary": True,
        "tenant_id": "a",
    }
    await service.create("mapping", mapping, principal=SYSTEM)
    changes.clear()
    return service


def mapping(mid: str, agent: str, channel: str, tenant: str = "a", primary: bool = False) -> dict[str, Any]:
    return {
        "mapping_id": mid,
        "agent_id": agent,
        "channel_id": channel,
        "tenant_id": tenant,
        "is_primary": primary,
    }


CREATE_CASES = [
    # (id, kind, data, principal, exception, message fragments)
    (
        "e164-no-plus",
        "channel",
        wa("c1", "1234567890"),
        SYSTEM,
        ConfigError,
        ["Phone number '1234567890' must start with '+' and the country code", "like +14155550123"],
    ),
    (
        "e164-too-short",
        "channel",
        wa("c1", "+12"),
        SYSTEM,
        ConfigError,
        ["Phone number '+12'", "+14155550123"],
    ),
    ("e164-letters", "channel", wa("c1", "+1 415 CALL NOW"), SYSTEM, ConfigError, ["+14155550123"]),
    (
        "duplicate-phone",
        "channel",
        wa("c1", "+1 (234) 567-890"),
        SYSTEM,
        ConflictError,
        ["Phone number +1234567890 already used by channel ch-a"],
    ),
    (
        "duplicate-phone-other-tenant",
        "channel",
        wa("c1", "+1234567890", tenant="b"),
        TENANT_B,
        ConflictError,
        ["Phone number +1234567890 already used by an active channel of another tenant"],
    ),
    (
        "duplicate-routing-key",
        "channel",
        wa("c1", "+1234567899", routing_key="pnid-1"),
        SYSTEM,
        ConflictError,
        ["Routing key 'pnid-1' for provider 'meta' already used by channel ch-a"],
    ),
    (
        "provider-type",
        "channel",
        {
            "channel_id": "c1",
            "channel_name": "x",
            "channel_type": "sms",
            "provider": "telegram",
            "tenant_id": "a",
        },
        SYSTEM,
        ConfigError,
        ["provider 'telegram' does not carry 'sms' channels (it carries: telegram)"],
    ),
    (
        "sms-without-phone",
        "channel",
        {
            "channel_id": "c1",
            "channel_name": "x",
            "channel_type": "sms",
            "provider": "infobip",
            "tenant_id": "a",
        },
        SYSTEM,
        ConfigError,
        ["a sms channel needs phone_number in E.164 form"],
    ),
    (
        "cross-tenant-agent",
        "mapping",
        mapping("m1", "asst_b", "ch-a"),
        SYSTEM,
        ConfigError,
        ["Agent 'asst_b' not found in tenant 'a'"],
    ),
    (
        "cross-tenant-channel",
        "mapping",
        mapping("m1", "asst_a2", "ch-b"),
        SYSTEM,
        ConfigError,
        ["Channel 'ch-b' not found in tenant 'a'"],
    ),
    (
        "unknown-agent",
        "mapping",
        mapping("m1", "asst_nobody", "ch-a"),
        SYSTEM,
        ConfigError,
        ["Agent 'asst_nobody' not found in tenant 'a'"],
    ),
    (
        "unknown-channel",
        "mapping",
        mapping("m1", "asst_a2", "nowhere"),
        SYSTEM,
        ConfigError,
        ["Channel 'nowhere' not found in tenant 'a'"],
    ),
    (
        "second-primary",
        "mapping",
        mapping("m1", "asst_a2", "ch-a", primary=True),
        SYSTEM,
        ConflictError,
        ["Channel 'ch-a' already has a primary agent (mapping m-a)"],
    ),
    (
        "same-pair",
        "mapping",
        mapping("m1", "asst_a", "ch-a"),
        SYSTEM,
        ConflictError,
        ["Agent 'asst_a' is already mapped to channel 'ch-a' (mapping m-a)"],
    ),
    (
        "bad-tenant-slug",
        "tenant",
        {"tenant_id": "Dream Weddings"},
        SYSTEM,
        ConfigError,
        ["tenant_id 'Dream Weddings' must be 1-63 lowercase letters", "'dream-weddings'"],
    ),
    (
        "bad-timezone",
        "tenant",
        {"tenant_id": "c", "timezone": "Mars/Olympus"},
        SYSTEM,
        ConfigError,
        ["timezone 'Mars/Olympus' is not an IANA time zone"],
    ),
    (
        "remote-without-asst",
        "agent",
        {
            "agent_id": "wedding",
            "agent_name": "W",
            "kind": "remote",
            "foundry_endpoint": "https://x.example/",
        },
        SYSTEM,
        ConfigError,
        ["Agent ID must start with 'asst_'"],
    ),
    (
        "duplicate-agent-id",
        "agent",
        {"agent_id": "asst_a", "agent_name": "again", "tenant_id": "a"},
        SYSTEM,
        ConflictError,
        ["Agent 'asst_a' already exists"],
    ),
    (
        "duplicate-tenant-id",
        "tenant",
        {"tenant_id": "a"},
        SYSTEM,
        ConflictError,
        ["Tenant 'a' already exists"],
    ),
    (
        "unknown-tenant",
        "agent",
        {"agent_id": "asst_z", "agent_name": "z", "tenant_id": "zzz"},
        SYSTEM,
        ConfigError,
        ["tenant 'zzz' does not exist"],
    ),
    (
        "other-tenant-scope",
        "agent",
        {"agent_id": "asst_z", "agent_name": "z", "tenant_id": "a"},
        TENANT_B,
        NotFound,
        ["Tenant 'a' not found"],
    ),
    (
        "missing-field",
        "agent",
        {"agent_id": "asst_z"},
        SYSTEM,
        ConfigError,
        ["Invalid agent 'asst_z': agent_name"],
    ),
    (
        "empty-answer",
        "knowledge",
        {"question": "Hours?", "answer": "", "tenant_id": "a"},
        SYSTEM,
        ConfigError,
        ["answer: must not be empty"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "data", "principal", "exc", "fragments"),
    [c[1:] for c in CREATE_CASES],
    ids=[c[0] for c in CREATE_CASES],
)
async def test_invalid_create_is_refused_and_writes_nothing(
    seeded: ConfigService,
    changes: list,
    kind: str,
    data: dict,
    principal: Principal,
    exc: type,
    fragments: list,
) -> None:
    before = await state(seeded.db)
    with pytest.raises(exc) as info:
        await seeded.create(kind, data, principal=principal)
    assert type(info.value) is exc
    for fragment in fragments:
        assert fragment in info.value.message
    assert await state(seeded.db) == before
    assert changes == []


async def test_model_errors_carry_field_details(seeded: ConfigService) -> None:
    with pytest.raises(ConfigError) as info:
        await seeded.create("channel", wa("c1", "12345", business_name=7), principal=SYSTEM)
    fields = {d["field"] for d in info.value.details}
    assert {"phone_number", "business_name"} <= fields
    assert all(set(d) == {"field", "message"} for d in info.value.details)


UPDATE_CASES = [
    (
        "phone-taken",
        "channel",
        "ch-b",
        {"phone_number": "+1234567890"},
        TENANT_B,
        ConflictError,
        ["Phone number +1234567890 already used by an active channel of another tenant"],
    ),
    (
        "bad-phone",
        "channel",
        "ch-a",
        {"phone_number": "555-0100"},
        SYSTEM,
        ConfigError,
        ["must start with '+'"],
    ),
    (
        "channel-id-immutable",
        "channel",
        "ch-a",
        {"channel_id": "acs-reg-id"},
        SYSTEM,
        ConfigError,
        ["channel_id cannot be changed", "routing_key"],
    ),
    (
        "tenant-immutable",
        "agent",
        "asst_a",
        {"tenant_id": "b"},
        SYSTEM,
        ConfigError,
        ["tenant_id of agent cannot"],
    ),
    (
        "second-primary",
        "mapping",
        "m-b",
        {"is_primary": True},
        SYSTEM,
        ConflictError,
        ["Channel 'ch-a' already has a primary agent (mapping m-a)"],
    ),
    (
        "other-tenant-object",
        "agent",
        "asst_a",
        {"agent_name": "mine"},
        TENANT_B,
        NotFound,
        ["Agent 'asst_a' not found"],
    ),
    (
        "remote-rule-after-merge",
        "agent",
        "asst_a",
        {"kind": "remote"},
        SYSTEM,
        ConfigError,
        ["a remote agent needs config.url (or foundry_endpoint)"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "object_id", "patch", "principal", "exc", "fragments"),
    [c[1:] for c in UPDATE_CASES],
    ids=[c[0] for c in UPDATE_CASES],
)
async def test_invalid_update_is_refused_and_writes_nothing(
    seeded: ConfigService,
    changes: list,
    kind: str,
    object_id: str,
    patch: dict,
    principal: Principal,
    exc: type,
    fragments: list,
) -> None:
    await seeded.create("mapping", mapping("m-b", "asst_a2", "ch-a"), principal=SYSTEM)
    changes.clear()
    before = await state(seeded.db)
    with pytest.raises(exc) as info:
        await seeded.update(kind, object_id, patch, principal=principal)
    assert type(info.value) is exc
    for fragment in fragments:
        assert fragment in info.value.message
    assert await state(seeded.db) == before
    assert changes == []


async def test_inactive_channels_may_share_a_number(seeded: ConfigService) -> None:
    await seeded.update("channel", "ch-a", {"active": False}, principal=SYSTEM)
    created = await seeded.create(
        "channel", wa("ch-new", "+1234567890", routing_key="pnid-1"), principal=SYSTEM
    )
    assert created["active"] is True
    with pytest.raises(ConflictError, match="Phone number \\+1234567890 already used by channel ch-new"):
        await seeded.update("channel", "ch-a", {"active": True}, principal=SYSTEM)


async def test_report_lists_warnings(seeded: ConfigService) -> None:
    await seeded.create(
        "agent",
        {
            "agent_id": "asst_llm",
            "agent_name": "L",
            "tenant_id": "a",
            "kind": "remote",
            "foundry_endpoint": "https://x.example/",
        },
        principal=SYSTEM,
    )
    await seeded.create("mapping", mapping("m-b", "asst_b", "ch-b", tenant="b"), principal=SYSTEM)
    await seeded.update("channel", "ch-b", {"active": False}, principal=SYSTEM)
    report = await seeded.validate()
    assert report["valid"] is True and report["errors"] == [], report["errors"]
    codes = {(w["code"], w["object_id"]) for w in report["warnings"]}
    assert codes == {
        ("agent_without_channel", "asst_a2"),
        ("agent_without_channel", "asst_llm"),
        ("kind_not_available", "asst_llm"),
        ("inactive_channel_mapped", "ch-b"),
    }
    messages = {w["message"] for w in report["warnings"]}
    assert "Channel 'ch-b' is inactive but still has 1 mapping(s)" in messages
    assert any("has no config.url" in m for m in messages)
    scoped = await seeded.validate(principal=TENANT_B)
    assert {w["object_id"] for w in scoped["warnings"]} == {"ch-b"}
    assert scoped["summary"]["agents"] == 1


async def test_report_finds_errors_in_stored_data(seeded: ConfigService, db: Database) -> None:
    # Legacy rows written behind the service's back: a second primary and a bad phone number.
    async with db.write() as conn:
        await conn.execute(
            channels.update().where(channels.c.channel_id == "ch-b").values(phone_number="12345")
        )
        await conn.execute(mappings.delete().where(mappings.c.mapping_id == "m-a"))
        await conn.execute(
            mappings.insert().values(mapping_id="m-x", tenant_id="b", agent_id="asst_a", channel_id="ch-b")
        )
    report = await seeded.validate()
    assert report["valid"] is False
    by_code = {e["code"]: e for e in report["errors"]}
    assert "Phone number '12345'" in by_code["invalid_object"]["message"]
    assert by_code["unknown_agent"]["message"] == "Agent 'asst_a' not found in tenant 'b'"
    assert ("channel_without_agent", "ch-a") in {(w["code"], w["object_id"]) for w in report["warnings"]}
