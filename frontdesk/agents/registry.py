"""Agent kind → a ready agent, with what is worth keeping between turns: each tenant's knowledge
index (by configuration revision) and the model clients of ``llm`` agents (by endpoint and key).

An agent of a kind this version does not know (a row written by a newer one) answers with the
fallback and asks for a person (``UnavailableAgent``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import sqlalchemy as sa

from frontdesk.agents.base import Agent, UnavailableAgent
from frontdesk.agents.deps import AgentDeps
from frontdesk.agents.faq import FaqAgent
from frontdesk.agents.knowledge import KnowledgeIndex
from frontdesk.agents.remote import RemoteAgent
from frontdesk.agents.router import RouterAgent
from frontdesk.model.config import FaqAgentSettings
from frontdesk.model.routing import AgentInfo, TenantInfo
from frontdesk.security.redact import Redactor
from frontdesk.security.ssrf import AllowList, guard_transport
from frontdesk.store.db import Database
from frontdesk.store.tables import knowledge

MAX_MODELS = 256  # distinct (endpoint, model, key) clients kept; the oldest is dropped beyond
# Model calls wait seconds for an answer: a turn in flight holds a connection that long, so the
# pool is sized for many conversations at once, not for the quick calls of provider sends.
MODEL_POOL = httpx2.Limits(max_connections=1000, max_keepalive_connections=256, keepalive_expiry=60)


class AgentRegistry:
    def __init__(self, allow: Callable[[], AllowList] = AllowList) -> None:
        self._allow = allow  # the operator's allow-list, read at each new model connection
        self._indexes: dict[str, tuple[int, KnowledgeIndex]] = {}
        # An FAQ agent's validated settings, by agent, with the configuration they were made from.
        self._faq_settings: dict[str, tuple[dict, FaqAgentSettings]] = {}
        self._models: dict[tuple, Any] = {}
        self._http: httpx2.AsyncClient | None = None  # the model endpoints' connection pool

    def invalidate(self, tenant_id: str) -> None:
        self._indexes.pop(tenant_id, None)

    async def knowledge_index(self, db: Database, tenant_id: str, revision: int) -> KnowledgeIndex:
        hit = self._indexes.get(tenant_id)
        if hit is not None and hit[0] == revision:
            return hit[1]
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(knowledge.c.id, knowledge.c.question, knowledge.c.answer, knowledge.c.tags)
                    .where(knowledge.c.tenant_id == tenant_id)
                    .order_by(knowledge.c.id)
                )
            ).all()
        index = KnowledgeIndex([dict(r._mapping) for r in rows])
        self._indexes[tenant_id] = (revision, index)
        return index

    def _faq_settings_of(self, agent: AgentInfo) -> FaqAgentSettings:
        """Validated once per configuration: the routing cache hands out the same ``config`` dict
        until it reloads the agent."""
        hit = self._faq_settings.get(agent.agent_id)
        if hit is not None and hit[0] is agent.config:
            return hit[1]
        settings = FaqAgentSettings.model_validate(agent.config)
        if len(self._faq_settings) > 10_000:
            self._faq_settings.clear()
        self._faq_settings[agent.agent_id] = (agent.config, settings)
        return settings

    def llm_model(self, settings: Any, key: str | None) -> Any:
        """The (shared) model client for an llm agent's settings and key."""
        from frontdesk.agents import llm_model  # start-up time: see build()

        cache_key = llm_model.client_key(settings, key)
        model = self._models.get(cache_key)
        if model is None:
            if len(self._models) >= MAX_MODELS:
                # Not closed: a turn may still be using it; its pool goes with the last reference.
                self._models.pop(next(iter(self._models)))
            if self._http is None:
                # Model endpoints are the tenant's choice: every connection is checked and pinned.
                transport = guard_transport(httpx2.AsyncHTTPTransport(limits=MODEL_POOL), self._allow)
                self._http = httpx2.AsyncClient(transport=transport, trust_env=False)
            model = self._models[cache_key] = llm_model.build_model(settings, key, self._http)
        return model

    async def build(self, deps: AgentDeps, agent: AgentInfo, tenant: TenantInfo | None) -> Agent:
        """The agent that answers for ``agent`` in this turn."""
        if agent.kind == "faq":
            revision = tenant.revision if tenant else 0
            index = await self.knowledge_index(deps.db, agent.tenant_id, revision)
            return FaqAgent(index, agent.config, self._faq_settings_of(agent))
        if agent.kind == "llm":
            # Imported on the first llm turn: pydantic-ai adds ~0.7 s to every start (CLI, FAQ-only
            # servers, workers) and only llm agents use it.
            from frontdesk.agents.llm import LlmAgent

            return LlmAgent(deps, agent, tenant, redactor=Redactor(deps.secrets.derive("pii")))
        if agent.kind == "remote":
            return RemoteAgent(deps, agent)
        if agent.kind == "router":

            async def build(info: AgentInfo) -> Agent:
                return await self.build(deps, info, tenant)

            return RouterAgent(deps, agent, build)
        fallback = agent.config.get("fallback_text") or FaqAgentSettings().fallback_text
        return UnavailableAgent(agent.kind, fallback)

    async def aclose(self) -> None:
        self._models = {}
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()
