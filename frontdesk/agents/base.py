"""The agent contract: answer one turn."""

from __future__ import annotations

from abc import ABC, abstractmethod

from frontdesk.model.messages import AgentReply, Turn


class Agent(ABC):
    """Something that answers the new messages of a conversation.

    ``reply`` returns the texts to send (in order), a confidence in 0..1, whether a person should
    take over (and why), and a trace of what the agent did.
    """

    @abstractmethod
    async def reply(self, turn: Turn) -> AgentReply: ...


class UnavailableAgent(Agent):
    """An agent kind this version cannot run yet: the customer gets the fallback, a person is asked."""

    def __init__(self, kind: str, fallback_text: str) -> None:
        self.kind = kind
        self.fallback_text = fallback_text

    async def reply(self, turn: Turn) -> AgentReply:
        return AgentReply(
            texts=[self.fallback_text],
            confidence=0.0,
            handoff=True,
            reason=f"agent kind {self.kind!r} is not available in this version",
        )
