"""The configuration REST API over HTTP: status codes, shapes, errors, OpenAPI."""

from __future__ import annotations

from typing import Any

import yaml

AGENT = {"agent_id": "asst_wedding_001", "agent_name": "Wedding Planner", "description": "Weddings"}
CHANNEL = {
    "channel_id": "wedding-whatsapp-001",
    "channel_name": "Wedding WhatsApp",
    "channel_type": "whatsapp",
    "provider": "meta",
    "phone_number": "+1234567890",
    "credentials": {"access_token": "EAAG-secret", "app_secret": "s", "verify_token": "v"},
}


async def test_crud_round_trip(api: Any) -> None:
    h = api.auth_as("a")
    r = await api.post("/api/v1/agents", json=AGENT, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == "a" and r.json()["kind"] == "faq"
    r = await api.post("/api/v1/channels", json=CHANNEL, headers=h)
    assert r.status_code == 201
    assert (
        r.json()["credentials_set"] == ["access_token", "app_secret", "verify_token"]
        and "EAAG-secret" not in r.text
    )
    mapping = {
        "mapping_id": "mapping_001",
        "agent_id": AGENT["agent_id"],
        "channel_id": CHANNEL["channel_id"],
        "is_primary": True,
    }
    assert (await api.post("/api/v1/mappings", json=mapping, headers=h)).status_code == 201
    r = await api.post(
        "/api/v1/knowledge", json={"question": "Hours?", "answer": "9-5", "tags": ["hours"]}, headers=h
    )
    assert r.status_code == 201 and r.json()["id"].startswith("kb_")

    r = await api.get("/api/v1/agents", params={"limit": 1}, headers=h)
    assert r.json() == {"items": [r.json()["items"][0]], "total": 1, "skip": 0, "limit": 1}
    r = await api.patch(
        "/api/v1/channels/wedding-whatsapp-001", json={"business_name": "Dream Weddings"}, headers=h
    )
    assert r.status_code == 200 and r.json()["business_name"] == "Dream Weddings"
    assert (await api.get("/api/v1/channels/wedding-whatsapp-001", headers=h)).json() == r.json()
    assert (await api.get("/api/v1/channels", params={"provider": "meta", "active": True}, headers=h)).json()[
        "total"
    ] == 1
    assert (await api.get("/api/v1/channels", params={"provider": "twilio"}, headers=h)).json()["total"] == 0

    assert (await api.delete("/api/v1/agents/asst_wedding_001", headers=h)).status_code == 204
    assert (await api.get("/api/v1/mappings", headers=h)).json()["items"] == []
    audit = (await api.get("/api/v1/audit", headers=h)).json()
    assert audit["items"][0]["action"] == "delete" and audit["items"][0]["object_type"] == "agent"
    assert "EAAG-secret" not in str(audit)


async def test_error_shapes(api: Any) -> None:
    h = api.auth_as("a")
    assert (await api.get("/api/v1/agents")).status_code == 401
    r = await api.get("/api/v1/agents", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await api.post("/api/v1/channels", json={**CHANNEL, "phone_number": "1234567890"}, headers=h)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_config" and "+14155550123" in err["message"]
    assert err["details"][0]["field"] == "phone_number"
    await api.post("/api/v1/channels", json=CHANNEL, headers=h)
    r = await api.post("/api/v1/channels", json={**CHANNEL, "channel_id": "other"}, headers=h)
    assert r.status_code == 409
    assert (
        r.json()["error"]["message"]
        == "Phone number +1234567890 already used by channel wedding-whatsapp-001"
    )
    r = await api.post("/api/v1/agents", content=b"{nope", headers={**h, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = await api.get("/api/v1/agents/ghost", headers=h)
    assert r.status_code == 404 and r.json()["error"]["message"] == "Agent 'ghost' not found"
    assert (await api.get("/api/v1/agents", params={"limit": 501}, headers=h)).status_code == 422
    r = await api.post("/api/v1/tenants", json={"tenant_id": "c"}, headers=h)
    assert r.status_code == 403


async def test_admin_tenants_validation_export_import(api: Any) -> None:
    h = api.auth_as("admin")
    r = await api.post(
        "/api/v1/tenants", json={"tenant_id": "dream-weddings", "timezone": "America/New_York"}, headers=h
    )
    assert r.status_code == 201 and r.json()["name"] == "dream-weddings"
    await api.post("/api/v1/agents", json={**AGENT, "tenant_id": "dream-weddings"}, headers=h)
    report = (await api.get("/api/v1/validation", params={"tenant_id": "dream-weddings"}, headers=h)).json()
    assert report["valid"] is True
    assert [w["code"] for w in report["warnings"]] == ["agent_without_channel"]

    doc = (await api.get("/api/v1/config/export", headers=h)).json()
    assert [t["tenant_id"] for t in doc["tenants"]] == ["a", "b", "default", "dream-weddings"]
    text = (await api.get("/api/v1/config/export", params={"format": "yaml"}, headers=h)).text
    assert yaml.safe_load(text) == doc

    doc["agents"][0]["agent_name"] = "Renamed"
    r = await api.post("/api/v1/config/import", params={"dry_run": True}, json=doc, headers=h)
    assert r.status_code == 200 and r.json()["updated"] == {"agent": 1}
    assert (await api.get("/api/v1/agents/asst_wedding_001", headers=h)).json()[
        "agent_name"
    ] == "Wedding Planner"
    r = await api.post(
        "/api/v1/config/import",
        content=yaml.safe_dump(doc),
        headers={**h, "content-type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    assert (await api.get("/api/v1/agents/asst_wedding_001", headers=h)).json()["agent_name"] == "Renamed"
    r = await api.post(
        "/api/v1/config/import", content=b"agents: [", headers={**h, "content-type": "application/yaml"}
    )
    assert r.status_code == 422 and "line" in r.json()["error"]["message"]


async def test_openapi_documents_the_bodies(api: Any) -> None:
    from fastapi import FastAPI

    app: FastAPI = api._transport.app
    spec = app.openapi()
    body = spec["paths"]["/api/v1/channels"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"channel_id", "phone_number", "credentials", "routing_key"} <= set(body["properties"])
    assert "channel_id" in body["required"]
    patch = spec["paths"]["/api/v1/channels/{channel_id}"]["patch"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert "required" not in patch
    assert "/api/v1/knowledge/{id}" in spec["paths"]
