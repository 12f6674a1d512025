"""A tenant token never sees or changes another tenant's objects, on any configuration route."""

from __future__ import annotations

from typing import Any

import pytest

OBJECTS = {
    "agents": ("asst_a", {"agent_id": "asst_a", "agent_name": "A"}),
    "channels": (
        "ch-a",
        {
            "channel_id": "ch-a",
            "channel_name": "A",
            "channel_type": "sms",
            "provider": "infobip",
            "phone_number": "+14155550100",
        },
    ),
    "mappings": (
        "map-a",
        {"mapping_id": "map-a", "agent_id": "asst_a", "channel_id": "ch-a", "is_primary": True},
    ),
    "knowledge": ("kb-a", {"id": "kb-a", "question": "Secret?", "answer": "A's secret"}),
}


@pytest.fixture
async def populated(api: Any) -> Any:
    for path, (_, body) in OBJECTS.items():
        r = await api.post(f"/api/v1/{path}", json=body, headers=api.auth_as("a"))
        assert r.status_code == 201, r.text
    return api


@pytest.mark.parametrize("path", [*OBJECTS, "tenants"])
async def test_other_tenant_objects_answer_404(populated: Any, path: str) -> None:
    api, b = populated, populated.auth_as("b")
    object_id = "a" if path == "tenants" else OBJECTS[path][0]
    url = f"/api/v1/{path}/{object_id}"
    assert (await api.get(url, headers=b)).status_code == 404
    assert (await api.patch(url, json={"description": "x"}, headers=b)).status_code == 404
    assert (await api.delete(url, headers=b)).status_code == 404
    listed = (await api.get(f"/api/v1/{path}", headers=b)).json()
    id_field = {
        "tenants": "tenant_id",
        "agents": "agent_id",
        "channels": "channel_id",
        "mappings": "mapping_id",
    }
    assert object_id not in [item[id_field.get(path, "id")] for item in listed["items"]]
    assert "tenant_id': 'a'" not in str(listed)
    assert (await api.get(f"/api/v1/{path}", params={"tenant_id": "a"}, headers=b)).status_code == 404
    assert (await api.get(url, headers=api.auth_as("a"))).status_code == 200  # still there, untouched


async def test_other_routes_are_scoped(populated: Any) -> None:
    api, b = populated, populated.auth_as("b")
    assert (await api.get("/config/api/agents", headers=b)).json() == []
    assert (await api.get("/config/api/channels", headers=b)).json() == []
    assert (await api.get("/config/api/phone/+14155550100/agent", headers=b)).status_code == 404
    assert (await api.get("/route/agent/+14155550100", headers=b)).status_code == 404
    assert (await api.get("/route/stats", headers=b)).json()["total_active_routes"] == 0
    stats = (await api.get("/config/api/stats", headers=b)).json()
    assert stats["agents"]["total"] == 0 and stats["channels"]["total"] == 0
    report = (await api.get("/api/v1/validation", headers=b)).json()
    assert report["summary"]["agents"] == 0 and "ch-a" not in str(report)
    assert "ch-a" not in str((await api.get("/config/api/validation", headers=b)).json())
    assert "asst_a" not in str((await api.get("/api/v1/audit", headers=b)).json())
    assert (await api.get("/api/v1/audit", params={"tenant_id": "a"}, headers=b)).status_code == 404
    exported = (await api.get("/api/v1/config/export", headers=b)).json()
    assert "asst_a" not in str(exported) and [t["tenant_id"] for t in exported["tenants"]] == ["b"]
    assert (await api.get("/api/v1/config/export", params={"tenant_id": "a"}, headers=b)).status_code == 404
    r = await api.post(
        "/api/v1/config/import",
        json={"agents": [{"agent_id": "x", "agent_name": "x", "tenant_id": "a"}]},
        headers=b,
    )
    assert r.status_code == 404
    r = await api.post(
        "/api/v1/agents", json={"agent_id": "x", "agent_name": "x", "tenant_id": "a"}, headers=b
    )
    assert r.status_code == 404
    r = await api.post("/api/v1/mappings", json={"agent_id": "asst_a", "channel_id": "ch-a"}, headers=b)
    assert r.status_code == 422 and r.json()["error"]["message"] == "Agent 'asst_a' not found in tenant 'b'"
    r = await api.post(
        "/config/agents/add", data={"agent_id": "asst_x", "agent_name": "x", "tenant_id": "a"}, headers=b
    )
    assert r.status_code == 404
    # and the admin sees everything
    assert (await api.get("/api/v1/agents/asst_a", headers=api.auth_as("admin"))).status_code == 200
