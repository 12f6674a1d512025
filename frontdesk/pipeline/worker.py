"""In-process workers: a dispatcher claims jobs in batches, N tasks run them, a heartbeat keeps
their leases. Different conversations run in parallel; the queue guarantees one job per
conversation at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket

import structlog

from frontdesk.model import backoff
from frontdesk.pipeline.deps import TurnDeps
from frontdesk.pipeline.queue.base import Job
from frontdesk.pipeline.turn import give_up, process
from frontdesk.store.db import utcnow

log = structlog.get_logger(__name__)


class WorkerPool:
    def __init__(self, deps: TurnDeps, size: int) -> None:
        self.deps = deps
        self.size = size
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._in_flight: set[int] = set()
        self._slot_freed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self.processed = 0
        self.failed = 0

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._stopping

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping = False
        self._tasks = [asyncio.create_task(self._dispatch(), name="frontdesk-dispatcher")]
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="frontdesk-heartbeat"))
        self._tasks += [
            asyncio.create_task(self._work(), name=f"frontdesk-worker-{i}") for i in range(self.size)
        ]
        log.info("workers started", workers=self.size, worker_id=self.worker_id)

    async def stop(self, grace: float = 5.0) -> None:
        if not self._tasks:
            return
        self._stopping = True
        self.deps.queue.wake()
        deadline = asyncio.get_running_loop().time() + grace
        while self._in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        # Jobs claimed but not started go back at once rather than after their lease.
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            with contextlib.suppress(Exception):
                await self.deps.queue.retry(job, self.worker_id, utcnow(), None, give_up=False)

    async def _dispatch(self) -> None:
        queue = self.deps.queue
        poll = self.deps.settings.poll_interval_seconds
        while not self._stopping:
            free = self.size - len(self._in_flight)
            if free <= 0:
                self._slot_freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), poll)
                continue
            queue.wakeup.clear()
            try:
                claimed = await queue.claim(self.worker_id, free)
            except Exception:
                log.exception("claiming jobs failed")
                claimed = []
            for job in claimed:
                self._in_flight.add(job.id)
                self._jobs.put_nowait(job)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(queue.wakeup.wait(), poll)

    async def _work(self) -> None:
        settings = self.deps.settings
        while True:
            job = await self._jobs.get()
            try:
                await process(self.deps, job, self.worker_id)
                self.processed += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed += 1
                error = f"{type(exc).__name__}: {exc}"
                final = job.attempts >= settings.turn_max_attempts
                log.exception(
                    "turn failed", conversation_id=job.conversation_id, attempt=job.attempts, final=final
                )
                with contextlib.suppress(Exception):
                    if final:
                        await give_up(self.deps, job, error)
                    at = backoff.next_time(
                        job.attempts, settings.retry_base_seconds, settings.retry_max_seconds
                    )
                    await self.deps.queue.retry(job, self.worker_id, at, error, give_up=final)
            finally:
                self._in_flight.discard(job.id)
                self._slot_freed.set()
                # A finished job may unblock the next one of the same conversation.
                self.deps.queue.wake()

    async def _heartbeat(self) -> None:
        interval = max(0.2, self.deps.settings.job_lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.deps.queue.heartbeat(sorted(self._in_flight), self.worker_id)
            except Exception:
                log.exception("heartbeat failed")
