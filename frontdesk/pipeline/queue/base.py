"""The queue contract. One job per conversation runs at a time; jobs of different conversations run
in parallel. Delivery is at least once: a job whose worker died is run again after its lease.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    tenant_id: str
    conversation_id: str
    attempts: int


class JobQueue(ABC):
    """Where turns wait. ``enqueue`` joins the caller's transaction, so a message and the job that
    will answer it commit together (or not at all)."""

    # Set by ``wake``: workers in this process wait on it between polls.
    wakeup: asyncio.Event

    @abstractmethod
    def enqueue(
        self, conn: Connection, tenant_id: str, conversation_id: str, run_at: datetime | None = None
    ) -> None:
        """Make sure a job for the conversation is queued to run no later than ``run_at`` (default:
        now), inside the caller's transaction (a function given to ``Database.run_write``).

        A job already queued for the same conversation absorbs this one (burst debounce)."""

    @abstractmethod
    def wake(self) -> None:
        """Tell local consumers that work was committed (call after the enqueuing commit)."""

    @abstractmethod
    async def claim(self, worker_id: str, limit: int) -> list[Job]:
        """Take up to ``limit`` runnable jobs, at most one per conversation, leased to ``worker_id``."""

    @abstractmethod
    def complete_in(self, conn: Connection, job: Job, worker_id: str) -> None:
        """The job is done, inside the caller's transaction."""

    @abstractmethod
    async def complete(self, job: Job, worker_id: str) -> None:
        """The job is done."""

    @abstractmethod
    async def retry(
        self, job: Job, worker_id: str, run_at: datetime, error: str | None, give_up: bool
    ) -> None:
        """Run the job again at ``run_at``; or, with ``give_up``, park it as failed."""

    @abstractmethod
    async def heartbeat(self, job_ids: list[int], worker_id: str) -> None:
        """Extend the leases of jobs still being worked on."""

    @abstractmethod
    async def depth(self) -> dict[str, int]:
        """Counts by status (queued, running, failed)."""
