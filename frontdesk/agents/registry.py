"""Agent kind → a ready agent, with each tenant's knowledge index cached by configuration revision."""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.agents.base import Agent, UnavailableAgent
from frontdesk.agents.faq import FaqAgent
from frontdesk.agents.knowledge import KnowledgeIndex
from frontdesk.model.config import FaqAgentSettings
from frontdesk.pipeline.cache import AgentInfo
from frontdesk.store.db import Database
from frontdesk.store.tables import knowledge


class AgentRegistry:
    def __init__(self) -> None:
        self._indexes: dict[str, tuple[int, KnowledgeIndex]] = {}

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

    async def build(self, db: Database, agent: AgentInfo, revision: int) -> Agent:
        if agent.kind == "faq":
            return FaqAgent(await self.knowledge_index(db, agent.tenant_id, revision), agent.config)
        fallback = agent.config.get("fallback_text") or FaqAgentSettings().fallback_text
        return UnavailableAgent(agent.kind, fallback)
