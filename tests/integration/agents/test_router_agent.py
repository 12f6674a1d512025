"""The router agent on a real database: delegation by keywords or by a model, stickiness, a person."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from frontdesk.agents.base import Agent
from frontdesk.agents.faq import FaqAgent
from frontdesk.agents.knowledge import KnowledgeIndex
from frontdesk.agents.router import RouterAgent
from frontdesk.agents.router_state import router_state
from frontdesk.model.messages import HistoryMessage, Turn
from frontdesk.model.routing import AgentInfo
from frontdesk.security.tokens import SYSTEM
from frontdesk.store.db import utcnow
from frontdesk.store.tables import agents, contacts, conversations
from tests.conftest import make_settings
from tests.fakes.server import run_app

KNOWLEDGE = {
    "billing_faq": [("How do I get a refund for my invoice?", "Refunds reach your card within 5 days.")],
    "policy_faq": [("What does my policy coverage include?", "Your policy covers fire and theft.")],
}
ROUTES = [
    {
        "agent_id": "billing_faq",
        "description": "invoices, payments, refunds",
        "keywords": ["invoice", "refund"],
    },
    {"agent_id": "policy_faq", "description": "insurance policies", "keywords": ["policy", "coverage"]},
]


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, http_actions_allow="127.0.0.1", run_workers=False)


class Setup:
    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.built: list[str] = []

    async def build(self, info: AgentInfo) -> Agent:
        self.built.append(info.agent_id)
        entries = [
            {"id": f"{info.agent_id}-{i}", "question": q, "answer": a, "tags": []}
            for i, (q, a) in enumerate(KNOWLEDGE[info.agent_id])
        ]
        return FaqAgent(KnowledgeIndex(entries), info.config)

    async def router(self, **config: Any) -> RouterAgent:
        async with self.rt.db.read() as conn:
            row = (await conn.execute(sa.select(agents).where(agents.c.agent_id == "router"))).first()
        info = AgentInfo("router", "default", "Router", "router", "active", {**row.config, **config})
        return RouterAgent(self.rt, info, self.build)

    async def conversation(self, conversation_id: str) -> str:
        now = utcnow()
        async with self.rt.db.write() as conn:
            await conn.execute(
                contacts.insert().values(
                    contact_id=f"ct_{conversation_id}", tenant_id="default", created_at=now, updated_at=now
                )
            )
            await conn.execute(
                conversations.insert().values(
                    conversation_id=conversation_id,
                    tenant_id="default",
                    channel_id="web",
                    contact_id=f"ct_{conversation_id}",
                    thread="",
                    mode="bot",
                    needs_human=False,
                    simulated=False,
                    created_at=now,
                    updated_at=now,
                )
            )
        return conversation_id


@pytest.fixture
async def setup(runtime) -> Setup:  # type: ignore[no-untyped-def]
    create = runtime.config.create
    for agent_id in KNOWLEDGE:
        fallback = f"{agent_id} does not know"
        await create(
            "agent",
            {
                "agent_id": agent_id,
                "agent_name": agent_id,
                "kind": "faq",
                "config": {"fallback_text": fallback},
            },
            principal=SYSTEM,
        )
    await create(
        "agent",
        {"agent_id": "router", "agent_name": "Router", "kind": "router", "config": {"routes": ROUTES}},
        principal=SYSTEM,
    )
    await create(
        "channel",
        {"channel_id": "web", "channel_name": "Web", "channel_type": "webchat", "provider": "webchat"},
        principal=SYSTEM,
    )
    return Setup(runtime)


def turn(conversation_id: str, text: str, history: list[str] | None = None) -> Turn:
    return Turn(
        tenant_id="default",
        agent_id="router",
        channel_id="web",
        channel_type="webchat",
        conversation_id=conversation_id,
        contact_id=f"ct_{conversation_id}",
        new_messages=[HistoryMessage(100, "in", text, "text", utcnow())],
        history=[HistoryMessage(i, "in", t, "text", None) for i, t in enumerate(history or [])],
    )


async def test_delegates_to_two_faq_agents_by_keywords(setup: Setup) -> None:
    router = await setup.router()
    billing = await router.reply(
        turn(await setup.conversation("c1"), "How do I get a refund for my invoice?")
    )
    policy = await router.reply(turn(await setup.conversation("c2"), "What does my policy coverage include?"))
    assert billing.texts == ["Refunds reach your card within 5 days."]
    assert policy.texts == ["Your policy covers fire and theft."]
    assert setup.built == ["billing_faq", "policy_faq"]
    step = billing.trace[0]
    assert step["type"] == "classification" and step["target"] == "billing_faq" and step["method"] == "rules"
    assert step["confidence"] >= 0.5
    assert billing.trace[1]["step"] == "faq_match"  # the delegated agent's own trace follows


async def test_conversation_sticks_until_the_topic_changes(setup: Setup) -> None:
    router = await setup.router()
    cid = await setup.conversation("c1")
    await router.reply(turn(cid, "I need a refund for my invoice"))
    follow_up = await router.reply(turn(cid, "how long does it take?"))
    assert follow_up.trace[0]["target"] == "billing_faq" and follow_up.trace[0]["method"] == "sticky"
    assert follow_up.texts == ["billing_faq does not know"]
    moved = await router.reply(turn(cid, "What does my policy coverage include?"))
    assert moved.trace[0]["target"] == "policy_faq" and moved.trace[0]["method"] == "rules"
    assert moved.texts == ["Your policy covers fire and theft."]
    assert setup.built == ["billing_faq", "billing_faq", "policy_faq"]
    async with setup.rt.db.read() as conn:
        state = (await conn.execute(sa.select(router_state))).all()
    assert [(s.conversation_id, s.target_agent_id) for s in state] == [("c1", "policy_faq")]


async def test_idle_or_closed_conversations_are_classified_afresh(setup: Setup) -> None:
    router = await setup.router()
    cid = await setup.conversation("c1")
    await router.reply(turn(cid, "refund please"))
    async with setup.rt.db.write() as conn:
        await conn.execute(router_state.update().values(updated_at=utcnow() - timedelta(hours=2)))
    idle = await router.reply(turn(cid, "hello again"))
    assert idle.trace[0]["method"] == "rules" and idle.trace[0]["confidence"] == 0.0
    await router.reply(turn(cid, "refund please"))
    async with setup.rt.db.write() as conn:
        await conn.execute(conversations.update().values(mode="closed"))
    closed = await router.reply(turn(cid, "hello again"))
    assert closed.trace[0]["method"] == "rules"


async def test_human_target_hands_over(setup: Setup) -> None:
    router = await setup.router(handoff_text="A colleague will be with you shortly.")
    cid = await setup.conversation("c1")
    await router.reply(turn(cid, "refund please"))
    reply = await router.reply(turn(cid, "I want to speak to someone, a real person"))
    assert reply.texts == ["A colleague will be with you shortly."] and reply.handoff
    assert reply.reason == "router: the customer asked for a person"
    assert reply.trace == [
        {
            "type": "classification",
            "target": "human",
            "confidence": reply.trace[0]["confidence"],
            "method": "rules",
        }
    ]
    assert setup.built == ["billing_faq"]
    async with setup.rt.db.read() as conn:
        assert (await conn.execute(sa.select(router_state))).all() == []  # next message: afresh


async def test_nothing_matches_goes_to_the_default(setup: Setup) -> None:
    first_route = await (await setup.router()).reply(turn(await setup.conversation("c1"), "good morning"))
    assert first_route.trace[0]["target"] == "billing_faq"
    person = await (await setup.router(default_target="human")).reply(
        turn(await setup.conversation("c2"), "good morning")
    )
    assert person.handoff and person.reason == "router: no agent matched the message"


async def test_paused_target_goes_to_a_person(setup: Setup) -> None:
    await setup.rt.config.update("agent", "policy_faq", {"status": "paused"}, principal=SYSTEM)
    reply = await (await setup.router()).reply(turn(await setup.conversation("c1"), "my policy coverage"))
    assert reply.handoff and "policy_faq" in (reply.reason or "") and setup.built == []


class FakeChat:
    """A scripted chat-completions server: answers ``script`` in order (ints are HTTP errors)."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def completions(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), json.loads(await request.body())))
        step = self.script.pop(0)
        if isinstance(step, int):
            return PlainTextResponse("overloaded", status_code=step)
        content = step if isinstance(step, str) else json.dumps(step)
        return JSONResponse({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])


async def llm_router(setup: Setup, base: str) -> RouterAgent:
    llm = {"base_url": f"{base}/v1", "model": "router-small", "api_key": "sk-router-secret"}
    await setup.rt.config.update("agent", "router", {"config": {"llm": llm}}, principal=SYSTEM)
    return await setup.router()


async def test_model_classifies(setup: Setup) -> None:
    chat = FakeChat({"target": "policy_faq", "confidence": 0.93})
    with run_app(chat.app()) as base:
        router = await llm_router(setup, base)
        reply = await router.reply(turn(await setup.conversation("c1"), "Am I insured if my flat burns?"))
    assert reply.trace[0] == {
        "type": "classification",
        "target": "policy_faq",
        "confidence": 0.93,
        "method": "llm",
    }
    assert setup.built == ["policy_faq"]
    headers, body = chat.requests[0]
    assert headers["authorization"] == "Bearer sk-router-secret"  # decrypted from the stored config
    assert (
        body["model"] == "router-small" and "policy_faq: insurance policies" in body["messages"][0]["content"]
    )
    assert "Am I insured if my flat burns?" in body["messages"][1]["content"]


async def test_model_failure_falls_back_to_the_rules(setup: Setup) -> None:
    chat = FakeChat(500, "I think it is about billing", {"target": "sales", "confidence": 0.9})
    with run_app(chat.app()) as base:
        router = await llm_router(setup, base)
        replies = [
            await router.reply(turn(await setup.conversation(f"c{i}"), "refund for my invoice"))
            for i in range(3)
        ]
    steps = [r.trace[0] for r in replies]
    assert [(s["target"], s["method"]) for s in steps] == [("billing_faq", "rules")] * 3
    assert steps[0]["llm_error"] == "the model server answered HTTP 500"
    assert "did not answer JSON" in steps[1]["llm_error"]
    assert "unknown target 'sales'" in steps[2]["llm_error"]
    assert len(chat.requests) == 3


async def test_model_server_out_of_reach_falls_back(setup: Setup) -> None:
    router = await setup.router(llm={"base_url": "http://10.255.255.1/v1", "model": "m"})
    reply = await router.reply(turn(await setup.conversation("c1"), "refund"))
    assert reply.trace[0]["method"] == "rules" and "private address" in reply.trace[0]["llm_error"]
