"""The job queue's contract, held by the SQL queue (on an SQLite file) and by the in-memory fake alike.

The fake is only worth its name if a test that passes on it passes on the real queue: every case
here runs on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from frontdesk.pipeline.queue.base import JobQueue
from frontdesk.pipeline.queue.local import LocalQueue
from frontdesk.store.db import Database, utcnow
from frontdesk.store.migrate import upgrade
from frontdesk.store.tenants import ensure_default_tenant
from frontdesk.testing import MemoryQueue
from tests.conftest import make_settings

LEASE = 0.3


@pytest.fixture(params=["memory", "sql"])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobQueue]:
    if request.param == "memory":
        yield MemoryQueue(lease=timedelta(seconds=LEASE))
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}"
    db = Database(url)
    await upgrade(db.engine)
    await ensure_default_tenant(db)
    yield LocalQueue(db, make_settings(url, job_lease_seconds=LEASE))
    await db.dispose()


async def enqueue(q: JobQueue, conversation_id: str, delay: float = 0, **kw: Any) -> None:
    when = utcnow() + timedelta(seconds=delay)
    if isinstance(q, LocalQueue):
        await q.db.run_write(lambda conn: q.enqueue(conn, "default", conversation_id, when, **kw))
    else:
        q.enqueue(None, "default", conversation_id, when, **kw)  # type: ignore[arg-type]  # no transaction to join


async def test_a_queued_job_absorbs_later_ones_and_keeps_the_earliest_time(queue: JobQueue) -> None:
    await enqueue(queue, "conv-1", delay=60)
    await enqueue(queue, "conv-1")
    assert (await queue.depth())["queued"] == 1
    assert [j.conversation_id for j in await queue.claim("w1", 10)] == ["conv-1"]


async def test_a_job_is_not_claimed_before_its_time(queue: JobQueue) -> None:
    await enqueue(queue, "conv-1", delay=60)
    assert await queue.claim("w1", 10) == []


async def test_one_running_job_per_conversation_in_order(queue: JobQueue) -> None:
    await enqueue(queue, "conv-1")
    await enqueue(queue, "conv-2")
    first = await queue.claim("w1", 10)
    assert sorted(j.conversation_id for j in first) == ["conv-1", "conv-2"]
    assert all(j.attempts == 1 for j in first)
    await enqueue(queue, "conv-1")  # arrives while conv-1 runs: waits for it
    assert await queue.claim("w2", 10) == []
    assert await queue.depth() == {"queued": 1, "running": 2, "failed": 0}
    await queue.complete(next(j for j in first if j.conversation_id == "conv-1"), "w1")
    assert [j.conversation_id for j in await queue.claim("w2", 10)] == ["conv-1"]


async def test_claim_takes_at_most_limit(queue: JobQueue) -> None:
    for n in range(5):
        await enqueue(queue, f"conv-{n}")
    assert len(await queue.claim("w1", 2)) == 2
    assert len(await queue.claim("w1", 10)) == 3


async def test_an_expired_lease_is_taken_over_and_a_heartbeat_keeps_it(queue: JobQueue) -> None:
    await enqueue(queue, "conv-1")
    await enqueue(queue, "conv-2")
    held, lost = sorted(await queue.claim("w1", 10), key=lambda j: j.conversation_id)
    await asyncio.sleep(LEASE / 2)
    await queue.heartbeat([held.id], "w1")
    await asyncio.sleep(LEASE * 0.8)
    taken = await queue.claim("w2", 10)
    assert [(j.conversation_id, j.attempts) for j in taken] == [(lost.conversation_id, 2)]
    await queue.complete(lost, "w1")  # the old worker's completion no longer counts
    assert (await queue.depth())["running"] == 2


async def test_retry_runs_again_later_and_give_up_parks_the_job(queue: JobQueue) -> None:
    await enqueue(queue, "conv-1")
    [job] = await queue.claim("w1", 10)
    await queue.retry(job, "w1", utcnow() + timedelta(seconds=60), "boom", give_up=False)
    assert await queue.depth() == {"queued": 1, "running": 0, "failed": 0}
    assert await queue.claim("w1", 10) == []
    await queue.retry(job, "w1", utcnow(), None, give_up=False)  # no longer w1's: ignored
    await enqueue(queue, "conv-2")
    [other] = await queue.claim("w1", 10)
    await queue.retry(other, "w1", utcnow(), "broken for good", give_up=True)
    assert await queue.depth() == {"queued": 1, "running": 0, "failed": 1}


async def test_a_retried_job_keeps_its_attempts(queue: JobQueue) -> None:
    await enqueue(queue, "conv-1")
    [job] = await queue.claim("w1", 10)
    await queue.retry(job, "w1", utcnow(), "boom", give_up=False)
    [again] = await queue.claim("w1", 10)
    assert again.attempts == 2
