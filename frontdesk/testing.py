"""Fakes beside the seams, for tests of code that uses Frontdesk (and for Frontdesk's own).

Each fake keeps the contract of the real part and records what it was asked, like httpx's
``MockTransport`` or procrastinate's in-memory connector::

    from frontdesk.testing import FakeAdapter, MemoryQueue, ScriptedAgent

    adapter = FakeAdapter("twilio")                  # stands in for Twilio: records every send
    adapter.fail_next(RetryableDelivery("503 from the provider"), times=2)
    agent = ScriptedAgent(["Hello!", AgentReply(texts=["Let me get a person."], handoff=True)])
    queue = MemoryQueue()                            # the job queue's contract, in memory

``FakeAdapter`` is a ``ChannelAdapter``, ``ScriptedAgent`` an ``Agent``, ``MemoryQueue`` a
``JobQueue``; ``ScriptedAgents`` serves a scripted agent where the runtime builds agents. Tests that
need the real HTTP path use the fake provider servers on 127.0.0.1 instead (``tests/fakes``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from sqlalchemy import Connection

from frontdesk.agents.base import Agent
from frontdesk.channels.base import ChannelAdapter, RawRequest
from frontdesk.errors import DeliveryError
from frontdesk.model.messages import (
    AgentReply,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
    SendResult,
    Turn,
)
from frontdesk.model.routing import AgentInfo, ChannelInfo, TenantInfo
from frontdesk.pipeline.queue.base import Job, JobQueue
from frontdesk.store.db import utcnow

__all__ = ["FakeAdapter", "MemoryQueue", "ScriptedAgent", "ScriptedAgents", "Sent"]


# -- a provider --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """One message the fake provider accepted."""

    message: OutboundMessage
    channel: ChannelInfo
    provider_message_id: str


class FakeAdapter(ChannelAdapter):
    """A provider that keeps what it is sent in ``sent`` and fails when told to.

    ``provider`` is the name it registers under (``AdapterRegistry.register``), so it can stand in
    for a real provider's adapter. Inbound, it takes JSON bodies of the form
    ``{"to": routing key, "from": address, "id": provider message id, "text": …}``.
    """

    provider: ClassVar[str] = "fake"
    idempotent_sends: ClassVar[bool] = True
    webhook_content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    def __init__(self, provider: str = "fake") -> None:
        setattr(self, "provider", provider)  # noqa: B010  # per instance: it may stand in for any provider
        self.sent: list[Sent] = []
        self._failures: list[DeliveryError] = []
        self._ids = itertools.count(1)

    def fail_next(self, error: DeliveryError, times: int = 1) -> None:
        """Raise ``error`` (RetryableDelivery or PermanentDelivery) on the next ``times`` sends."""
        self._failures.extend([error] * times)

    @property
    def texts(self) -> list[str]:
        return [s.message.text for s in self.sent]

    def routing_keys(self, req: RawRequest) -> list[str]:
        to = _body(req).get("to")
        return [to] if isinstance(to, str) else []

    def verify(self, req: RawRequest, channel: ChannelInfo, credentials: dict[str, Any]) -> None:
        return None  # the fake provider signs nothing; tests of signatures use the real adapters

    def parse(self, req: RawRequest, channel: ChannelInfo) -> list[InboundEvent]:
        body = _body(req)
        return [
            InboundMessage(
                provider_message_id=str(body.get("id") or f"fake-in-{next(self._ids)}"),
                sender=str(body.get("from", "")),
                text=str(body.get("text", "")),
            )
        ]

    async def send(
        self, msg: OutboundMessage, channel: ChannelInfo, credentials: dict[str, Any], http: httpx.AsyncClient
    ) -> SendResult:
        if self._failures:
            raise self._failures.pop(0)
        provider_id = f"fake-{next(self._ids)}"
        self.sent.append(Sent(msg, channel, provider_id))
        return SendResult(provider_message_id=provider_id)


def _body(req: RawRequest) -> dict[str, Any]:
    try:
        data = json.loads(req.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# -- an agent ----------------------------------------------------------------------------------


class ScriptedAgent(Agent):
    """Answers turn after turn from ``script`` (a text, or a whole ``AgentReply``); records the turns.

    When the script runs out it answers with ``then`` (default: raise, so a test notices).
    ``delay`` holds each reply that many seconds (a slow model).
    """

    def __init__(
        self, script: Iterable[str | AgentReply], *, then: str | None = None, delay: float = 0.0
    ) -> None:
        self.script = list(script)
        self.then = then
        self.delay = delay
        self.turns: list[Turn] = []

    async def reply(self, turn: Turn) -> AgentReply:
        self.turns.append(turn)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            step = self.script.pop(0)
        elif self.then is not None:
            step = self.then
        else:
            raise AssertionError(f"ScriptedAgent has no answer left for turn {len(self.turns)}")
        return step if isinstance(step, AgentReply) else AgentReply(texts=[step], confidence=1.0)


class ScriptedAgents:
    """Stands where the runtime builds agents (``Runtime.agents``): every agent is ``agent``."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.built: list[str] = []

    async def build(self, deps: Any, agent: AgentInfo, tenant: TenantInfo | None) -> Agent:
        self.built.append(agent.agent_id)
        return self.agent

    def invalidate(self, tenant_id: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


# -- the job queue -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    id: int
    tenant_id: str
    conversation_id: str
    run_at: datetime
    status: str = "queued"
    attempts: int = 0
    locked_by: str | None = None
    locked_until: datetime | None = None
    last_error: str | None = None


@dataclass
class MemoryQueue(JobQueue):
    """The queue contract in memory: one queued and one running job per conversation at most.

    ``enqueue`` takes effect at once (there is no transaction to join); everything else behaves
    like the SQL queue, leases included. ``jobs`` is there to be looked at.
    """

    lease: timedelta = timedelta(seconds=60)
    jobs: dict[int, _Entry] = field(default_factory=dict)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def enqueue(
        self,
        conn: Connection | None,
        tenant_id: str,
        conversation_id: str,
        run_at: datetime | None = None,
        attempts: int = 0,
    ) -> None:
        when = run_at or utcnow()
        for entry in self.jobs.values():
            if entry.conversation_id == conversation_id and entry.status == "queued":  # burst debounce
                entry.run_at = min(entry.run_at, when)
                entry.attempts = max(entry.attempts, attempts)
                return
        job_id = next(self._ids)
        self.jobs[job_id] = _Entry(job_id, tenant_id, conversation_id, when, attempts=attempts)

    def wake(self) -> None:
        self.wakeup.set()

    async def claim(self, worker_id: str, limit: int) -> list[Job]:
        now = utcnow()
        running = {
            e.conversation_id
            for e in self.jobs.values()
            if e.status == "running" and (e.locked_until or now) >= now
        }
        taken: list[Job] = []
        for entry in sorted(self.jobs.values(), key=lambda e: e.id):
            if len(taken) >= limit:
                break
            expired = (
                entry.status == "running" and entry.locked_until is not None and entry.locked_until < now
            )
            runnable = (
                entry.status == "queued" and entry.run_at <= now and entry.conversation_id not in running
            )
            if not (runnable or expired):
                continue
            entry.status, entry.locked_by = "running", worker_id
            entry.locked_until, entry.attempts = now + self.lease, entry.attempts + 1
            running.add(entry.conversation_id)
            taken.append(
                Job(
                    id=entry.id,
                    tenant_id=entry.tenant_id,
                    conversation_id=entry.conversation_id,
                    attempts=entry.attempts,
                )
            )
        return taken

    def complete_in(self, conn: Connection | None, job: Job, worker_id: str) -> None:
        entry = self.jobs.get(job.id)
        if entry is not None and entry.locked_by == worker_id:
            del self.jobs[job.id]

    async def complete(self, job: Job, worker_id: str) -> None:
        self.complete_in(None, job, worker_id)

    async def retry(
        self, job: Job, worker_id: str, run_at: datetime, error: str | None, give_up: bool
    ) -> None:
        entry = self.jobs.get(job.id)
        if entry is None or entry.locked_by != worker_id:
            return
        if give_up:
            entry.status, entry.locked_by, entry.locked_until, entry.last_error = "failed", None, None, error
            return
        del self.jobs[job.id]
        self.enqueue(None, job.tenant_id, job.conversation_id, run_at, attempts=job.attempts)

    async def heartbeat(self, job_ids: list[int], worker_id: str) -> None:
        until = utcnow() + self.lease
        for job_id in job_ids:
            entry = self.jobs.get(job_id)
            if entry is not None and entry.locked_by == worker_id:
                entry.locked_until = until

    async def depth(self) -> dict[str, int]:
        counts = {"queued": 0, "running": 0, "failed": 0}
        for entry in self.jobs.values():
            counts[entry.status] = counts.get(entry.status, 0) + 1
        return counts
