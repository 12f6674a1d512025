from frontdesk.agents.faq import FaqAgent
from frontdesk.agents.knowledge import KnowledgeIndex
from frontdesk.model.messages import HistoryMessage, Turn
from tests.unit.agents.test_knowledge import ENTRIES


def _turn(*texts: str) -> Turn:
    msgs = [HistoryMessage(i, "in", t, "text", None) for i, t in enumerate(texts, 1)]
    return Turn("default", "a", "c", "webchat", "conv", "ct", new_messages=msgs, history=[])


async def test_burst_is_answered_in_message_order() -> None:
    agent = FaqAgent(KnowledgeIndex(ENTRIES), {})
    reply = await agent.reply(_turn("where are you located?", "opening hours?"))
    assert reply.texts == ["12 Harbour Street.", "Mon-Fri 9-17."]
    assert not reply.handoff


async def test_below_threshold_gives_fallback_and_handoff() -> None:
    agent = FaqAgent(
        KnowledgeIndex(ENTRIES), {"fallback_text": "A person will answer.", "confidence_threshold": 0.9}
    )
    reply = await agent.reply(_turn("where are you?"))
    assert reply.texts == ["A person will answer."]
    assert reply.handoff and "confidence below 0.90" in reply.reason
