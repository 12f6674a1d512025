"""Export/import: identical round trip, ${ENV} credentials, all-or-nothing on broken files."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa

from frontdesk.config import yaml_io
from frontdesk.config.service import ConfigService
from frontdesk.config.transfer import count_rows
from frontdesk.errors import ConfigError, ConflictError, NotFound
from frontdesk.security.secrets import SecretBox
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store.tables import audit_log, channels

B = Principal(tenant_id="b", token_id="tok_b")


def seed_doc() -> dict[str, Any]:
    return {
        "version": 1,
        "tenants": [
            {
                "tenant_id": "dream-weddings",
                "name": "Dream Weddings",
                "timezone": "America/New_York",
                "business_profile": {"description": "Weddings", "services": ["planning"]},
            }
        ],
        "agents": [
            {
                "agent_id": "asst_wedding_001",
                "agent_name": "Wedding Planner",
                "tenant_id": "dream-weddings",
                "config": {"fallback_text": "One moment\nplease"},
            }
        ],
        "channels": [
            {
                "channel_id": "wedding-whatsapp-001",
                "channel_name": "WA",
                "channel_type": "whatsapp",
                "provider": "meta",
                "phone_number": "+1234567890",
                "routing_key": "1099",
                "tenant_id": "dream-weddings",
                "credentials": {
                    "access_token": "${FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN}",
                    "app_secret": "plain",
                    "verify_token": "v",
                },
            }
        ],
        "mappings": [
            {
                "mapping_id": "mapping_001",
                "agent_id": "asst_wedding_001",
                "channel_id": "wedding-whatsapp-001",
                "is_primary": True,
                "tenant_id": "dream-weddings",
            }
        ],
        "knowledge": [
            {
                "id": "kb1",
                "question": "Do you do beach weddings?",
                "answer": "Yes!",
                "tags": ["venue"],
                "tenant_id": "dream-weddings",
            }
        ],
    }


async def audit_count(svc: ConfigService) -> int:
    async with svc.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one()


async def test_env_references_are_resolved_and_never_exported(
    service: ConfigService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN", "EAAG-secret")
    result = await service.import_(seed_doc())
    assert result["created"] == {"tenant": 1, "agent": 1, "channel": 1, "mapping": 1, "knowledge": 1}
    async with service.db.read() as conn:
        token = (await conn.execute(sa.select(channels.c.credentials))).scalar_one()
    assert service.secrets.decrypt_json(token) == {
        "access_token": "EAAG-secret",
        "app_secret": "plain",
        "verify_token": "v",
    }
    text = yaml_io.dump(await service.export())
    assert "EAAG-secret" not in text and "plain" not in text
    assert "access_token: ${FRONTDESK_TENANT_DREAM_WEDDINGS__WEDDING_WHATSAPP_001_ACCESS_TOKEN}" in text
    # Re-importing the export into the same database, env unset: stored secrets are kept, nothing changes.
    again = await service.import_(yaml_io.load(text))
    assert again["changes"] == [] and again["created"] == {} and again["updated"] == {}


async def test_export_import_export_is_identical(
    service: ConfigService, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from frontdesk.store.db import Database
    from frontdesk.store.migrate import upgrade
    from frontdesk.store.tenants import ensure_default_tenant

    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN", "t")
    await service.import_(seed_doc())
    first = yaml_io.dump(await service.export())

    empty = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    await upgrade(empty.engine)
    await ensure_default_tenant(empty)
    other = ConfigService(empty, SecretBox([SecretBox.new_key()]))
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WEDDING_WHATSAPP_001_ACCESS_TOKEN", "t")
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WEDDING_WHATSAPP_001_APP_SECRET", "plain")
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WEDDING_WHATSAPP_001_VERIFY_TOKEN", "v")
    await other.import_(yaml_io.load(first))
    try:
        assert yaml_io.dump(await other.export()) == first
    finally:
        await empty.dispose()


async def test_unset_env_reference_is_refused(
    service: ConfigService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN", raising=False)
    before = await count_rows(service)
    with pytest.raises(ConfigError) as info:
        await service.import_(seed_doc())
    assert (
        "environment variable FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN, which is not set"
        in info.value.message
    )
    assert info.value.details[0]["code"] == "missing_env"
    assert await count_rows(service) == before


@pytest.mark.parametrize(
    "breakage", ["one-invalid", "duplicate-phone", "unknown-agent", "twice-in-file", "bad-tenant"]
)
async def test_broken_document_changes_nothing(
    service: ConfigService, changes: list, monkeypatch: pytest.MonkeyPatch, breakage: str
) -> None:
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN", "t")
    doc = seed_doc()
    extra_channel = copy.deepcopy(doc["channels"][0]) | {"channel_id": "second", "routing_key": "2000"}
    if breakage == "one-invalid":
        doc["channels"].append(extra_channel | {"phone_number": "555-0100"})
        expected = "channels[1]: Invalid channel 'second'"
    elif breakage == "duplicate-phone":
        doc["channels"].append(extra_channel)
        expected = "Phone number +1234567890 already used by channel wedding-whatsapp-001"
    elif breakage == "unknown-agent":
        doc["mappings"][0]["agent_id"] = "asst_ghost"
        expected = "Agent 'asst_ghost' not found in tenant 'dream-weddings'"
    elif breakage == "twice-in-file":
        doc["agents"].append(doc["agents"][0])
        expected = "agents[1]: Agent 'asst_wedding_001' appears twice in the file"
    else:
        doc["knowledge"][0]["tenant_id"] = "nobody"
        expected = "tenant 'nobody' does not exist"
    before, audits = await count_rows(service), await audit_count(service)
    report = await service.check_import(doc)
    assert report["valid"] is False
    assert any(expected in e["message"] for e in report["errors"]), report["errors"]
    with pytest.raises(ConfigError) as info:
        await service.import_(doc)
    assert info.value.message.startswith("import refused, nothing was written")
    assert any(expected in e["message"] for e in info.value.details)
    assert await count_rows(service) == before
    assert await audit_count(service) == audits
    assert changes == []


async def test_dry_run_reports_without_writing(
    service: ConfigService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN", "t")
    before = await count_rows(service)
    result = await service.import_(seed_doc(), dry_run=True)
    assert result["dry_run"] is True
    assert result["created"]["agent"] == 1
    assert await count_rows(service) == before


async def test_import_is_tenant_scoped(service: ConfigService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN", "t")
    await service.import_(seed_doc())
    await service.create("tenant", {"tenant_id": "b"}, principal=SYSTEM)
    with pytest.raises(NotFound, match="Tenant 'dream-weddings' not found"):
        await service.import_(
            {"agents": [{"agent_id": "asst_x", "agent_name": "x", "tenant_id": "dream-weddings"}]},
            principal=B,
        )
    with pytest.raises(ConflictError, match="Agent 'asst_wedding_001' already exists"):
        await service.import_(
            {"agents": [{"agent_id": "asst_wedding_001", "agent_name": "mine"}]}, principal=B
        )
    done = await service.import_({"agents": [{"agent_id": "asst_b", "agent_name": "b"}]}, principal=B)
    assert done["created"] == {"agent": 1}
    assert (await service.get("agent", "asst_b", principal=B))["tenant_id"] == "b"


async def test_import_moves_a_primary_in_one_go(
    service: ConfigService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_TENANT_DREAM_WEDDINGS__WA_TOKEN", "t")
    doc = seed_doc()
    await service.import_(doc)
    doc["agents"].append({"agent_id": "asst_2", "agent_name": "2", "tenant_id": "dream-weddings"})
    doc["mappings"][0]["is_primary"] = False
    doc["mappings"].insert(
        0,
        {
            "mapping_id": "a_first",
            "agent_id": "asst_2",
            "channel_id": "wedding-whatsapp-001",
            "is_primary": True,
            "tenant_id": "dream-weddings",
        },
    )
    result = await service.import_(doc)
    assert result["created"] == {"agent": 1, "mapping": 1} and result["updated"] == {"mapping": 1}
    assert (await service.get_agent_for_phone("+1234567890"))["agent_id"] == "asst_2"
