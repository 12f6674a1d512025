"""A tenant's calendar settings cannot reach the server's network, read a server file or a remote body."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from frontdesk.app import create_app
from frontdesk.calendar import SyncFailed
from frontdesk.security.tokens import create_token
from tests.fakes.server import run_app
from tests.integration.calendar.support import calendar_settings, make_tenant

SECRET = "internal secret: db password hunter2"


@pytest.fixture
def internal() -> Iterator[str]:
    """A server on the operator's network that answers every method with an error and a secret body."""

    async def answer(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse(SECRET, status_code=500)

    methods = ["GET", "PUT", "DELETE", "REPORT", "PROPFIND", "POST"]
    with run_app(Starlette(routes=[Route("/{path:path}", answer, methods=methods)])) as url:
        yield url


@pytest.fixture
async def tenant_client(runtime):  # type: ignore[no-untyped-def]
    await make_tenant(runtime, "salon")
    async with runtime.db.write() as conn:
        _, token = await create_token(conn, "salon", "salon")
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://frontdesk.test", headers=headers) as c:
        yield c


def _patch(**calendar: object) -> dict:
    return {"settings": {"calendar": calendar_settings(**calendar)}}


async def test_a_caldav_url_on_the_servers_network_is_never_called(
    runtime, tenant_client, internal, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "http_actions_allow", "")  # the operator opened nothing
    patch = _patch(caldav={"url": f"{internal}/cal/", "username": "u", "password": "p"})
    assert (await tenant_client.patch("/api/v1/tenants/salon", json=patch)).status_code == 200
    with pytest.raises(SyncFailed, match="loopback"):
        await runtime.calendar_sync.refresh_busy("salon")
    busy = (await tenant_client.get("/api/v1/tenants/salon/calendar")).json()["sync"]["busy"]
    assert "loopback" in busy["error"] and SECRET not in busy["error"]


async def test_an_error_answer_is_reported_by_its_status_only(runtime, tenant_client, internal) -> None:  # type: ignore[no-untyped-def]
    # Allowed by the operator (the tests' allow-list opens 127.0.0.1), and failing with a secret body.
    patch = _patch(caldav={"url": f"{internal}/cal/", "username": "u", "password": "p"})
    assert (await tenant_client.patch("/api/v1/tenants/salon", json=patch)).status_code == 200
    with pytest.raises(SyncFailed):
        await runtime.calendar_sync.refresh_busy("salon")
    busy = (await tenant_client.get("/api/v1/tenants/salon/calendar")).json()["sync"]["busy"]
    assert busy["error"] == "CalDAV reading busy times failed: HTTP 500"


async def test_google_errors_show_no_body_either(runtime, tenant_client, internal, client) -> None:  # type: ignore[no-untyped-def]
    # The operator points the Google API at a test server (only the operator may).
    google = {"base_url": internal, "access_token": "tok", "calendar_id": "primary"}
    assert (await client.patch("/api/v1/tenants/salon", json=_patch(google=google))).status_code == 200
    with pytest.raises(SyncFailed):
        await runtime.calendar_sync.refresh_busy("salon")
    busy = (await tenant_client.get("/api/v1/tenants/salon/calendar")).json()["sync"]["busy"]
    assert busy["error"] == "Google Calendar reading busy times failed: HTTP 500"


@pytest.mark.parametrize("field", ["base_url", "token_url"])
async def test_a_tenant_cannot_move_googles_endpoints(
    runtime, tenant_client, internal, monkeypatch, field: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "http_actions_allow", "")  # the operator opened nothing
    google = {field: f"{internal}/x", "access_token": "tok"}
    answer = await tenant_client.patch("/api/v1/tenants/salon", json=_patch(google=google))
    assert answer.status_code == 422
    assert f"settings.calendar.google.{field} can only be set by the platform operator" in answer.text


@pytest.mark.parametrize("path", ["/etc/passwd", "/nonexistent/key.json"])
async def test_a_tenant_cannot_name_a_server_file(tenant_client, path: str) -> None:  # type: ignore[no-untyped-def]
    answer = await tenant_client.patch(
        "/api/v1/tenants/salon", json=_patch(google={"service_account_file": path})
    )
    assert answer.status_code == 422
    # The same answer whether or not the file exists.
    assert answer.json()["error"]["message"] == (
        "settings.calendar.google.service_account_file names a file on the server, which only the "
        "platform operator may do; give the key itself as google.service_account"
    )


async def test_an_unreadable_key_file_does_not_say_whether_it_exists(runtime, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await make_tenant(runtime, "other")
    messages = []
    for path in ("/etc/hostname", str(tmp_path / "missing.json")):
        patch = _patch(google={"service_account_file": path})
        assert (await client.patch("/api/v1/tenants/other", json=patch)).status_code == 200
        with pytest.raises(SyncFailed) as failure:
            await runtime.calendar_sync.refresh_busy("other")
        messages.append(failure.value.message)
    assert messages[0] == messages[1] == "google.service_account_file is not a readable service account key"
