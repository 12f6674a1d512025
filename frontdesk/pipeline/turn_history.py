"""What a turn tells its agent about the past: the conversation's last messages and, for agents
that ask for it, the same contact's recent messages on the tenant's other channels
(``store.conversations`` reads them)."""

from __future__ import annotations

from frontdesk.model.messages import HistoryMessage
from frontdesk.model.routing import AgentInfo
from frontdesk.pipeline.deps import TurnDeps
from frontdesk.store.conversations import TurnConversation


def size(agent: AgentInfo) -> int:
    # The FAQ agent matches each new message on its own; it never reads the history.
    default = 0 if agent.kind == "faq" else 10
    return int(agent.config.get("history_messages", default))


async def load(
    deps: TurnDeps, conv: TurnConversation, agent: AgentInfo, before_id: int
) -> tuple[list[HistoryMessage], list[tuple[str, HistoryMessage]]]:
    """The conversation's messages before ``before_id`` and, if the agent asks for them, the
    contact's messages elsewhere (each with its channel type); oldest first, ``size`` of each."""
    limit = size(agent)
    history = await deps.store.conversations.history(conv.conversation_id, before_id, limit)
    if not agent.config.get("cross_channel_history"):
        return history, []
    return history, await deps.store.conversations.other_channels(conv, limit)
