"""Prompt REST API: the rendered prompt of an agent, the tenant's template (next turn uses it)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from frontdesk.agents.prompts import WEEKDAYS, default_template
from frontdesk.security.tokens import SYSTEM, create_token
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.agents.llm_helpers import fake_llm, replies, say, settings, setup_llm

__all__ = ["fake_llm", "settings"]  # fixtures
TEMPLATE = (
    "{{ business.name }} assistant {{ agent.name }}. Today: {{ now.weekday }}. {{ agent.instructions }}"
)


async def test_agent_prompt_is_rendered_from_the_profile(runtime, client, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"instructions": "Always offer a tasting."})
    r = await client.get(f"/api/v1/agents/{ids['agent_id']}/prompt")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"agent_id", "prompt", "template_source"}
    assert body["agent_id"] == ids["agent_id"] and body["template_source"] == "default"
    prompt = body["prompt"]
    assert prompt.startswith("You are Ava, the assistant of Dream Weddings: wedding planning in Springfield.")
    assert "- Full wedding package, 90 min, 5000 USD" in prompt
    assert "- Monday-Friday: 9:00-17:00" in prompt and "12 Harbour Street" in prompt
    assert "Always offer a tasting." in prompt
    now = datetime.now(ZoneInfo("Europe/Paris"))
    assert f"Today is {WEEKDAYS[now.weekday()]}, {now.date().isoformat()}" in prompt
    assert "(Europe/Paris)" in prompt
    assert (await client.get("/api/v1/agents/nope/prompt")).status_code == 404


async def test_template_change_applies_to_the_next_turn(runtime, client, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, config={"instructions": "Be brief."})
    fake_llm.push(fake_llm.answer("one", 0.9), fake_llm.answer("two", 0.9), fake_llm.answer("three", 0.9))
    got = await say(runtime, ids["channel_id"], "first")
    await replies(runtime, got.conversation_id, 1)
    assert fake_llm.system_prompt().startswith("You are Ava")

    r = await client.put("/api/v1/tenants/default/prompt-template", json={"template": TEMPLATE})
    assert r.status_code == 200, r.text
    assert r.json() == {"tenant_id": "default", "template": TEMPLATE, "source": "tenant"}
    await say(runtime, ids["channel_id"], "second")
    await replies(runtime, got.conversation_id, 2)
    weekday = WEEKDAYS[datetime.now(ZoneInfo("Europe/Paris")).weekday()]
    assert fake_llm.system_prompt() == f"Dream Weddings assistant Ava. Today: {weekday}. Be brief."
    shown = (await client.get(f"/api/v1/agents/{ids['agent_id']}/prompt")).json()
    assert shown["template_source"] == "tenant" and shown["prompt"] == fake_llm.system_prompt()

    reset = await client.delete("/api/v1/tenants/default/prompt-template")
    assert reset.json() == {"tenant_id": "default", "template": default_template(), "source": "default"}
    await say(runtime, ids["channel_id"], "third")
    await replies(runtime, got.conversation_id, 3)
    assert fake_llm.system_prompt().startswith("You are Ava")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ business.name ", "invalid prompt template"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "invalid prompt template"),
        ("Hello {{ customer.name }}", "'customer' is undefined"),
    ],
)
async def test_bad_templates_are_refused(runtime, client, template: str, message: str) -> None:
    r = await client.put("/api/v1/tenants/default/prompt-template", json={"template": template})
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]
    assert (await client.get("/api/v1/tenants/default/prompt-template")).json()["source"] == "default"


async def test_put_needs_a_template_field(runtime, client) -> None:
    r = await client.put("/api/v1/tenants/default/prompt-template", json={"text": "x"})
    assert r.status_code == 400
    r = await client.put("/api/v1/tenants/default/prompt-template", json={"template": None})
    assert r.status_code == 200 and r.json()["source"] == "default"


async def test_prompt_routes_are_tenant_scoped(runtime, client, fake_llm: FakeOpenAI) -> None:
    ids = await setup_llm(runtime, fake_llm.base_url, tenant_id="acme", prefix="a")
    await runtime.config.create("tenant", {"tenant_id": "rival", "name": "Rival"}, principal=SYSTEM)
    async with runtime.db.write() as conn:
        _, own = await create_token(conn, "acme", "acme")
        _, rival = await create_token(conn, "rival", "rival")
    mine = {"Authorization": f"Bearer {own}"}
    theirs = {"Authorization": f"Bearer {rival}"}
    assert (await client.get(f"/api/v1/agents/{ids['agent_id']}/prompt", headers=mine)).status_code == 200
    assert (await client.get(f"/api/v1/agents/{ids['agent_id']}/prompt", headers=theirs)).status_code == 404
    url = "/api/v1/tenants/acme/prompt-template"
    assert (await client.get(url, headers=theirs)).status_code == 404
    assert (await client.put(url, json={"template": "x"}, headers=theirs)).status_code == 404
    ok = await client.put(url, json={"template": "Hello from {{ business.name }}"}, headers=mine)
    assert ok.status_code == 200 and ok.json()["source"] == "tenant"
