"""What each part of the pipeline needs from the running system, as small typed Protocols.

``frontdesk.runtime.Runtime`` satisfies all of them structurally; a test builds only what the part
under test reads (``frontdesk.testing`` has fakes for the adapter, the agent and the queue). A
turn builds agents, so ``TurnDeps`` is also the agents' ``AgentDeps``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import httpx

from frontdesk.agents.deps import AgentDeps
from frontdesk.settings import Settings
from frontdesk.store.repositories import Store

if TYPE_CHECKING:
    from frontdesk.channels.health import ChannelHealth
    from frontdesk.channels.registry import AdapterRegistry
    from frontdesk.pipeline.cache import RoutingCache
    from frontdesk.pipeline.ingest import Ingest
    from frontdesk.pipeline.notify import Notifier
    from frontdesk.pipeline.queue.base import JobQueue
    from frontdesk.pipeline.ratelimit import SendRateLimiter


class ReceiveDeps(Protocol):
    """Webhooks in: route to a channel, verify, parse, store once (``pipeline.receive``)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def cache(self) -> RoutingCache: ...
    @property
    def ingest(self) -> Ingest: ...
    @property
    def channel_health(self) -> ChannelHealth: ...
    @property
    def notifier(self) -> Notifier: ...
    @property
    def store(self) -> Store: ...


class SendDeps(Protocol):
    """Replies out: pace, send, record the outcome (``pipeline.outbox``)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def cache(self) -> RoutingCache: ...
    @property
    def store(self) -> Store: ...
    @property
    def http(self) -> httpx.AsyncClient:
        """Provider APIs at the operator's base URLs."""
        ...

    @property
    def notifier(self) -> Notifier: ...
    @property
    def channel_health(self) -> ChannelHealth: ...
    @property
    def send_limiter(self) -> SendRateLimiter: ...


class TurnDeps(SendDeps, AgentDeps, Protocol):
    """One turn: load, ask the agent, write the replies, deliver (``pipeline.turn``, the workers)."""

    @property
    def cache(self) -> RoutingCache: ...
    @property
    def queue(self) -> JobQueue: ...
    @property
    def adapters(self) -> AdapterRegistry: ...


class QueueDeps(Protocol):
    """Proactive sends: format, write to the outbox, queue the conversation (``pipeline.proactive``)."""

    @property
    def queue(self) -> JobQueue: ...
    @property
    def adapters(self) -> AdapterRegistry: ...
    @property
    def store(self) -> Store: ...
