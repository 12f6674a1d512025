"""Tenant HTTP actions: definitions checked on save, calls templated, guarded, capped and trimmed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from frontdesk.agents.tools import ToolContext, ToolError
from frontdesk.agents.tools.http_actions import tenant_tools
from frontdesk.errors import ConfigError
from frontdesk.security.tokens import SYSTEM
from tests.conftest import make_settings
from tests.fakes.server import run_app

TOKEN_ENV = "FRONTDESK_ACTION_DEFAULT__CRM_TOKEN"


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, http_actions_allow="127.0.0.1", run_workers=False)


@pytest.fixture(autouse=True)
def operator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Saving a tenant checks its actions against the operator's settings (read from the environment).
    monkeypatch.setenv("FRONTDESK_HTTP_ACTIONS_ALLOW", "127.0.0.1")
    monkeypatch.setenv(TOKEN_ENV, "crm-s3cret")


class Crm:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def policy(self, request: Request) -> Response:
        self.seen.append(
            {
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "auth": request.headers.get("authorization"),
                "host": request.headers.get("host"),
                "x_policy": request.headers.get("x-policy"),
            }
        )
        return JSONResponse(
            {"status": "active", "holder": {"name": "Ana", "tax_id": "123-45"}, "items": [{"n": 1}]}
        )

    async def claim(self, request: Request) -> Response:
        self.seen.append(
            {"body": json.loads(await request.body()), "type": request.headers.get("content-type")}
        )
        return JSONResponse({"claim_id": "CL-9", "internal": "x"}, status_code=201)

    async def big(self, _: Request) -> Response:
        return PlainTextResponse("x" * (300 * 1024), media_type="application/json")

    async def slow(self, _: Request) -> Response:
        await asyncio.sleep(1.0)
        return JSONResponse({})

    async def redirect(self, _: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

    async def hop(self, _: Request) -> Response:
        return RedirectResponse("/policies/FROM-HOP", status_code=302)

    async def broken(self, _: Request) -> Response:
        return PlainTextResponse("down", status_code=503)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/policies/{number:path}", self.policy),
                Route("/claims", self.claim, methods=["POST"]),
                Route("/big", self.big),
                Route("/slow", self.slow),
                Route("/redirect", self.redirect),
                Route("/hop", self.hop),
                Route("/broken", self.broken),
            ]
        )


def action(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} action",
        "parameters": {"type": "object", "properties": {"number": {"type": "string"}}},
        "url": url,
        **extra,
    }


async def tools(rt: Any, *actions: dict[str, Any]) -> dict[str, Any]:
    await rt.config.update(
        "tenant", "default", {"settings": {"http_actions": list(actions)}}, principal=SYSTEM
    )
    return {t.name: t for t in await tenant_tools(rt, "default")}


def ctx(rt: Any) -> ToolContext:
    return ToolContext(rt, "default", "asst", "conv", "ct_1", "web")


async def test_end_to_end_templating_secrets_and_fields(runtime) -> None:  # type: ignore[no-untyped-def]
    crm = Crm()
    with run_app(crm.app()) as base:
        found = await tools(
            runtime,
            action(
                "policy_status",
                base + "/policies/{number}?lang={lang}",
                parameters={
                    "type": "object",
                    "properties": {
                        "number": {"type": "string"},
                        "lang": {"type": "string", "enum": ["en", "fr"]},
                    },
                    "required": ["number"],
                },
                headers={"Authorization": "Bearer ${env:" + TOKEN_ENV + "}", "X-Policy": "{number}"},
                response_fields=["status", "holder.name", "items.0.n", "missing.field"],
            ),
            action(
                "open_claim",
                base + "/claims",
                method="post",
                parameters={
                    "type": "object",
                    "properties": {"number": {"type": "string"}, "amount": {"type": "number"}},
                },
                body={"policy": "{number}", "amount": "{amount}", "note": "claim for {number}"},
                response_fields=["claim_id"],
            ),
        )
        status = await found["policy_status"].handler(ctx(runtime), {"number": "A/B 1?&x", "lang": "fr"})
        claim = await found["open_claim"].handler(ctx(runtime), {"number": "P-1", "amount": 120.5})
        sneaky = "${env:" + TOKEN_ENV + "}"  # a customer's text never reads the environment
        await found["policy_status"].handler(ctx(runtime), {"number": sneaky})
    assert status == {"status": 200, "data": {"status": "active", "holder.name": "Ana", "items.0.n": 1}}
    assert "tax_id" not in json.dumps(status)
    seen = crm.seen[0]
    assert seen["raw_path"] == "/policies/A%2FB%201%3F%26x" and seen["query"] == "lang=fr"
    assert seen["auth"] == "Bearer crm-s3cret" and seen["host"].startswith("127.0.0.1:")
    assert seen["x_policy"] == "A/B 1?&x"
    assert claim == {"status": 201, "data": {"claim_id": "CL-9"}}
    assert crm.seen[2]["x_policy"] == sneaky and crm.seen[2]["auth"] == "Bearer crm-s3cret"
    assert crm.seen[1] == {
        "body": {"policy": "P-1", "amount": 120.5, "note": "claim for P-1"},
        "type": "application/json",
    }


async def test_arguments_are_checked(runtime) -> None:  # type: ignore[no-untyped-def]
    params = {"type": "object", "properties": {"number": {"type": "string"}}, "required": ["number"]}
    found = await tools(runtime, action("policy_status", "http://127.0.0.1:9/p/{number}", parameters=params))
    tool = found["policy_status"]
    for args, problem in (
        ({}, "'number' is required"),
        ({"number": 5}, "must be of type string"),
        ({"number": "1", "admin": True}, "unknown argument"),
    ):
        with pytest.raises(ToolError, match=problem):
            await tool.handler(ctx(runtime), args)


async def test_size_cap_timeout_errors_and_redirects(runtime) -> None:  # type: ignore[no-untyped-def]
    crm = Crm()
    with run_app(crm.app()) as base:
        found = await tools(
            runtime,
            action("big", base + "/big"),
            action("slow", base + "/slow", timeout_s=0.3),
            action("sneaky", base + "/redirect"),
            action("hop", base + "/hop", response_fields=["status"]),
            action("broken", base + "/broken"),
        )
        with pytest.raises(ToolError, match="larger than 256 KiB"):
            await found["big"].handler(ctx(runtime), {})
        with pytest.raises(ToolError, match=r"within 0\.3s"):
            await found["slow"].handler(ctx(runtime), {})
        with pytest.raises(ToolError, match="sneaky: its address is not allowed by this server"):
            await found["sneaky"].handler(ctx(runtime), {})
        assert await found["hop"].handler(ctx(runtime), {}) == {"status": 200, "data": {"status": "active"}}
        with pytest.raises(ToolError, match="answered HTTP 503"):
            await found["broken"].handler(ctx(runtime), {})
    assert crm.seen[-1]["raw_path"] == "/policies/FROM-HOP"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "http://[::1]:8000/x",
        "http://10.0.0.7/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.2]/x",
        "http://localhost:8000/x",
    ],
)
async def test_the_operators_network_is_refused(runtime, url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FRONTDESK_DEV_MODE", "1")  # lets plain http be saved; the call is still guarded
    found = await tools(runtime, action("probe", url))
    monkeypatch.setattr(runtime.settings, "http_actions_allow", "crm.example.com")  # nothing local
    with pytest.raises(ToolError, match="probe: its address is not allowed by this server"):
        await found["probe"].handler(ctx(runtime), {})


async def test_a_secret_the_operator_did_not_set(runtime, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(TOKEN_ENV)
    headers = {"Authorization": "Bearer ${env:" + TOKEN_ENV + "}"}
    found = await tools(runtime, action("policy_status", "http://127.0.0.1:9/p", headers=headers))
    with pytest.raises(ToolError, match="a secret it needs is not configured"):
        await found["policy_status"].handler(ctx(runtime), {})


@pytest.mark.parametrize(
    ("bad", "fragments"),
    [
        ({"name": "lookup_record"}, ["settings.http_actions[0].name", "built-in tool"]),
        ({"name": "has space"}, ["must be 1-64 letters"]),
        (
            {"headers": {"X-Key": "${env:FRONTDESK_SECRET_KEY}"}},
            ["FRONTDESK_SECRET_KEY is not this tenant's"],
        ),
        ({"headers": {"X-Key": "${env:FRONTDESK_ACTION_DEFAULT_EU__TOKEN}"}}, ["is not this tenant's"]),
        ({"url": "http://127.0.0.1/p/{policy}"}, ["placeholder {policy}", "is not a parameter"]),
        ({"url": "https://{number}.example.com/"}, ["the host cannot come from an argument"]),
        ({"url": "http://crm.example.com/p"}, ["must use https://"]),
        ({"method": "TRACE"}, ["settings.http_actions[0].method"]),
        ({"response_fields": ["a..b"]}, ["dotted path"]),
        ({"parameters": {"type": "object", "properties": {"n": {}}}}, ["needs a type"]),
        ({"timeout_s": 300}, ["timeout_s"]),
        ({"description": ""}, ["description"]),
    ],
)
async def test_definitions_are_checked_on_save(runtime, bad: dict, fragments: list) -> None:  # type: ignore[no-untyped-def]
    good = action("policy_status", "http://127.0.0.1:9/p/{number}")
    with pytest.raises(ConfigError) as info:
        await tools(runtime, {**good, **bad})
    assert info.value.message.startswith("Invalid tenant 'default'")
    for fragment in fragments:
        assert fragment in info.value.message
    assert await tenant_tools(runtime, "default") == []


async def test_names_are_unique(runtime) -> None:  # type: ignore[no-untyped-def]
    one = action("same", "http://127.0.0.1:9/a")
    with pytest.raises(ConfigError, match="another action is already named 'same'"):
        await tools(runtime, one, one)
