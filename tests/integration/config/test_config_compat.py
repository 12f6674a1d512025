"""Seed 000's configuration and routing endpoints."""

from __future__ import annotations

from typing import Any


async def setup_seed(api: Any) -> dict[str, str]:
    h = api.auth_as("admin")
    r = await api.post(
        "/config/agents/add",
        data={
            "agent_id": "asst_wedding_001",
            "agent_name": "Wedding Planner",
            "foundry_endpoint": "https://your-endpoint.cognitiveservices.azure.com/",
            "description": "Weddings",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "remote" and r.json()["tenant_id"] == "default"
    channel = {
        "channel_id": "wedding-whatsapp-001",
        "channel_name": "Wedding WhatsApp",
        "channel_type": "whatsapp",
        "provider": "infobip",
        "phone_number": "+1234567890",
        "business_name": "Dream Weddings",
    }
    assert (await api.post("/api/v1/channels", json=channel, headers=h)).status_code == 201
    mapping = {
        "mapping_id": "mapping_001",
        "agent_id": "asst_wedding_001",
        "channel_id": "wedding-whatsapp-001",
        "is_primary": True,
    }
    assert (await api.post("/api/v1/mappings", json=mapping, headers=h)).status_code == 201
    return h


async def test_form_add_applies_the_asst_rule(api: Any) -> None:
    r = await api.post(
        "/config/agents/add",
        data={"agent_id": "wedding", "agent_name": "W", "foundry_endpoint": "https://x.example/"},
        headers=api.auth_as("admin"),
    )
    assert r.status_code == 422 and "Agent ID must start with 'asst_'" in r.json()["error"]["message"]
    plain = await api.post(
        "/config/agents/add", data={"agent_id": "helper", "agent_name": "H"}, headers=api.auth_as("a")
    )
    assert plain.status_code == 201 and plain.json()["kind"] == "faq" and plain.json()["tenant_id"] == "a"


async def test_lists_lookup_validation_stats(api: Any) -> None:
    h = await setup_seed(api)
    agents = (await api.get("/config/api/agents", headers=h)).json()
    assert [a["agent_id"] for a in agents] == ["asst_wedding_001"]
    channels = (await api.get("/config/api/channels", headers=h)).json()
    assert channels[0]["phone_number"] == "+1234567890" and "credentials" not in channels[0]
    r = await api.get("/config/api/phone/+1234567890/agent", headers=h)
    assert r.status_code == 200 and r.json()["agent_id"] == "asst_wedding_001"
    r = await api.get("/config/api/phone/+1999888777/agent", headers=h)
    assert r.status_code == 404
    assert r.json()["error"]["message"].startswith("No agent found for phone number +1999888777")
    assert (await api.get("/route/agent/+1234567890", headers=h)).json() == {
        "phone_number": "+1234567890",
        "agent_id": "asst_wedding_001",
        "agent_name": "Wedding Planner",
        "channel_id": "wedding-whatsapp-001",
    }
    assert (await api.get("/route/agent/+1999888777", headers=h)).status_code == 404
    report = (await api.get("/config/api/validation", headers=h)).json()
    assert report["valid"] is True
    assert [w["code"] for w in report["warnings"]] == ["kind_not_available"]
    stats = (await api.get("/config/api/stats", headers=h)).json()
    assert stats["agents"]["by_kind"] == {"remote": 1}
    assert stats["channels"]["by_provider"] == {"infobip": 1} and stats["mappings"] == {
        "total": 1,
        "primary": 1,
    }
    assert (await api.get("/route/stats", headers=h)).json() == {
        "total_active_routes": 1,
        "routes_by_channel_type": {"whatsapp": 1},
        "routes_by_agent": {"asst_wedding_001": 1},
        "validation": {"valid": True, "errors": 0, "warnings": 1},
    }
    assert (await api.get("/config/api/agents")).status_code == 401
