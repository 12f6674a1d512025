"""The router agent: classifies what the customer wants and hands the turn to the right agent.

Config: ``routes`` (``[{"agent_id", "description", "keywords"}]``, other agents of the tenant), an
optional ``llm`` block (OpenAI-compatible chat completions) and the built-in ``human`` target. A
conversation stays with the agent it was given to (sticky) until another route matches clearly
(``switch_confidence``, and better than the current agent), until it is idle for ``idle_minutes``
or until it is closed. The delegated agent's reply comes back with a ``classification`` step first
in its trace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import ValidationError

from frontdesk.agents import intent, router_state
from frontdesk.agents.base import Agent
from frontdesk.agents.deps import AgentDeps
from frontdesk.agents.intent import HUMAN, Classification, RouterSettings
from frontdesk.config.agent_secrets import agent_secret
from frontdesk.errors import ConfigError, LlmFailed, OutboundError
from frontdesk.model.messages import AgentReply, Turn
from frontdesk.model.routing import AgentInfo, agent_info
from frontdesk.security.ssrf import allow_list, fetch
from frontdesk.store.db import utcnow
from frontdesk.store.tables import agents

log = structlog.get_logger(__name__)
Build = Callable[[AgentInfo], Awaitable[Agent]]
HISTORY_FOR_MODEL = 6


class RouterAgent(Agent):
    def __init__(self, deps: AgentDeps, agent_info: AgentInfo, build: Build) -> None:
        self.deps = deps
        self.info = agent_info
        self.build = build
        self.settings = RouterSettings.model_validate(agent_info.config or {})

    async def reply(self, turn: Turn) -> AgentReply:
        sticky = await self._sticky(turn)
        found = await self.classify(turn, sticky)
        chosen = self.decide(found, sticky)
        if chosen.target == HUMAN:
            await router_state.forget(self.deps.db, turn.conversation_id)
            why = (
                "the customer asked for a person" if found.target == HUMAN else "no agent matched the message"
            )
            return self._to_person(chosen, f"router: {why}")
        target = await self._agent(turn.tenant_id, chosen.target)
        if target is None:
            await router_state.forget(self.deps.db, turn.conversation_id)
            return self._to_person(chosen, f"router: agent {chosen.target!r} is missing, paused or a router")
        await router_state.save(
            self.deps.db,
            turn.tenant_id,
            turn.conversation_id,
            self.info.agent_id,
            target.agent_id,
            chosen.confidence,
        )
        delegated = dataclasses.replace(turn, **_as_target(turn, target))
        reply = await (await self.build(target)).reply(delegated)
        reply.trace = [chosen.step(), *reply.trace]
        return reply

    async def classify(self, turn: Turn, sticky: router_state.Sticky | None) -> Classification:
        """The model's classification when one is configured and answers usefully, else the rules'."""
        if self.settings.llm is None:
            return await self._rules(turn.text)
        try:
            return await self._ask_model(turn, sticky.target if sticky else None)
        except (LlmFailed, OutboundError) as exc:
            error = exc.message if isinstance(exc, OutboundError) else str(exc)
            log.info("router model failed, using rules", agent_id=self.info.agent_id, error=error)
            found = await self._rules(turn.text)
            found.error = error
            return found

    async def _rules(self, text: str) -> Classification:
        # Off the event loop: the tenant's keywords against anyone's message, bounded in time.
        return await asyncio.to_thread(intent.classify_rules, self.settings, text)

    def decide(self, found: Classification, sticky: router_state.Sticky | None) -> Classification:
        """Where the turn goes: a clear new topic, else the current agent, else the default."""
        s = self.settings
        if sticky is not None:
            current = found.scores.get(sticky.target, 0.0)
            moved = (
                found.target != sticky.target
                and found.confidence >= s.switch_confidence
                and (found.method == "llm" or found.confidence > current)
            )
            if not moved:
                return Classification(
                    sticky.target, max(sticky.confidence, current), "sticky", error=found.error
                )
            return found
        if found.confidence >= s.min_confidence:
            return found
        return dataclasses.replace(found, target=s.fallback_target)

    async def _sticky(self, turn: Turn) -> router_state.Sticky | None:
        state = await router_state.load(self.deps.db, turn.conversation_id, self.info.agent_id)
        if state is None:
            return None
        idle = utcnow() - state.updated_at > timedelta(minutes=self.settings.idle_minutes)
        routed = {r.agent_id for r in self.settings.routes}
        if idle or state.conversation_mode == "closed" or state.target not in routed:
            return None
        return state

    async def _ask_model(self, turn: Turn, current: str | None) -> Classification:
        llm = self.settings.llm
        assert llm is not None
        history = [f"{'customer' if m.direction == 'in' else 'us'}: {m.text}" for m in turn.history if m.text]
        body = intent.llm_request(self.settings, turn.text, history[-HISTORY_FOR_MODEL:], current)
        headers = {"content-type": "application/json"}
        try:
            key = agent_secret(self.deps.secrets, self.info, "llm.api_key")
        except ConfigError as exc:
            raise LlmFailed(exc.message) from None
        if key:
            headers["authorization"] = f"Bearer {key}"
        got = await fetch(
            "POST",
            f"{llm.base_url}/chat/completions",
            allow=allow_list(self.deps.settings),
            headers=headers,
            content=json.dumps(body).encode(),
            timeout=llm.timeout_s,
        )
        if not 200 <= got.status < 300:
            raise LlmFailed(f"the model server answered HTTP {got.status}")
        try:
            data = got.json()
        except ValueError:
            raise LlmFailed("the model server did not answer JSON") from None
        return intent.parse_llm_answer(self.settings, data)

    async def _agent(self, tenant_id: str, agent_id: str) -> AgentInfo | None:
        """The target, if it is an active, non-router agent of the same tenant."""
        agent_cols = agents.c
        async with self.deps.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(agents).where(
                        agent_cols.agent_id == agent_id, agent_cols.tenant_id == tenant_id
                    )
                )
            ).first()
        # A router delegating to a router could loop; paused and stopped agents do not answer.
        if (
            row is None
            or row.status != "active"
            or row.kind == "router"
            or row.agent_id == self.info.agent_id
        ):
            return None
        return agent_info(row)

    def _to_person(self, chosen: Classification, reason: str) -> AgentReply:
        return AgentReply(
            texts=[self.settings.handoff_text],
            confidence=1.0,
            handoff=True,
            reason=reason,
            trace=[chosen.step()],
        )


def _as_target(turn: Turn, target: AgentInfo) -> dict[str, Any]:
    """The fields of ``turn`` that name its agent, set to ``target``'s."""
    values = {
        "agent_id": target.agent_id,
        "agent_config": target.config,
        "agent_name": target.agent_name,
        "agent_kind": target.kind,
    }
    names = {f.name for f in dataclasses.fields(turn)}
    return {k: v for k, v in values.items() if k in names}


def config_errors(config: dict[str, Any], agent_id: str) -> list[dict[str, str]]:
    """Problems of a router's ``config`` alone as {field, message}; other agents are checked elsewhere."""
    try:
        settings = RouterSettings.model_validate(config)
    except ValidationError as exc:
        return [
            {
                "field": ".".join(["config", *map(str, e["loc"])]),
                "message": e["msg"].removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
    return [
        {"field": f"config.routes.{i}.agent_id", "message": "a router cannot route to itself"}
        for i, route in enumerate(settings.routes)
        if route.agent_id == agent_id
    ]
