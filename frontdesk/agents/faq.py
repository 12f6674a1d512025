"""The offline FAQ agent: answers from the tenant's knowledge entries, no model needed.

Each new message of the turn is matched on its own, so a burst of questions gets its answers in
order; a message nothing answers well enough gets the fallback text and flags the conversation
for a person.
"""

from __future__ import annotations

import asyncio

from frontdesk.agents.base import Agent
from frontdesk.agents.knowledge import KnowledgeIndex
from frontdesk.model.config import FaqAgentSettings
from frontdesk.model.messages import AgentReply, Turn

# Up to this many entries a search costs well under a thread hand-off (~0.07 ms for 20 entries),
# so it runs inline; a bigger knowledge base is searched in a thread, off the event loop.
INLINE_SEARCH_ENTRIES = 200


class FaqAgent(Agent):
    def __init__(self, index: KnowledgeIndex, config: dict, settings: FaqAgentSettings | None = None) -> None:
        self.index = index
        self.settings = settings if settings is not None else FaqAgentSettings.model_validate(config)

    async def reply(self, turn: Turn) -> AgentReply:
        texts: list[str] = []
        trace: list[dict] = []
        confidences: list[float] = []
        unanswered: list[str] = []
        for message in turn.new_messages:
            if not message.text.strip():
                continue
            # A big knowledge base in a thread: the search's cost (bounded) grows with its size.
            if len(self.index.entries) <= INLINE_SEARCH_ENTRIES:
                found = self.index.search(message.text, 1)
            else:
                found = await asyncio.to_thread(self.index.search, message.text, 1)
            best = next(iter(found), None)
            score = best.confidence if best else 0.0
            confidences.append(score)
            trace.append(
                {
                    "step": "faq_match",
                    "message_id": message.id,
                    "entry_id": best and best.entry_id,
                    "confidence": score,
                }
            )
            if best is not None and score >= self.settings.confidence_threshold:
                reply = best.answer
            else:
                unanswered.append(message.text)
                reply = self.settings.fallback_text
            if not texts or texts[-1] != reply:
                texts.append(reply)
        if not confidences:
            return AgentReply(texts=[], confidence=1.0, trace=trace)
        handoff = bool(unanswered)
        reason = None
        if handoff:
            reason = (
                f"FAQ agent confidence below {self.settings.confidence_threshold:.2f} for "
                f"{len(unanswered)} message(s)"
            )
        return AgentReply(
            texts=texts, confidence=min(confidences), handoff=handoff, reason=reason, trace=trace
        )
