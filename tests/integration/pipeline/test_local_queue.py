"""The embedded queue's guarantees, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from frontdesk.pipeline.queue.local import LocalQueue
from frontdesk.store.db import Database, utcnow
from frontdesk.store.migrate import upgrade
from frontdesk.store.tables import jobs
from frontdesk.store.tenants import ensure_default_tenant
from tests.conftest import make_settings


async def _queue(database_url: str, lease: float = 5) -> LocalQueue:
    db = Database(database_url)
    await upgrade(db.engine)
    await ensure_default_tenant(db)
    return LocalQueue(db, make_settings(database_url, job_lease_seconds=lease))


async def _enqueue(q: LocalQueue, lock: str, delay: float = 0) -> None:
    await q.db.run_write(lambda conn: q.enqueue(conn, "default", lock, utcnow() + timedelta(seconds=delay)))


async def _rows(q: LocalQueue) -> list:
    async with q.db.read() as conn:
        return (await conn.execute(sa.select(jobs).order_by(jobs.c.id))).all()


async def test_a_queued_job_absorbs_later_ones(database_url: str) -> None:
    q = await _queue(database_url)
    await _enqueue(q, "conv-1", delay=60)
    await _enqueue(q, "conv-1")
    rows = await _rows(q)
    assert len(rows) == 1
    claimed = await q.claim("w1", 10)
    assert [j.conversation_id for j in claimed] == ["conv-1"]  # the earlier run_at won
    await q.db.dispose()


async def test_one_running_job_per_conversation(database_url: str) -> None:
    q = await _queue(database_url)
    await _enqueue(q, "conv-1")
    await _enqueue(q, "conv-2")
    first = await q.claim("w1", 10)
    assert sorted(j.conversation_id for j in first) == ["conv-1", "conv-2"]
    await _enqueue(q, "conv-1")  # arrives while conv-1 runs
    assert await q.claim("w2", 10) == []
    await q.complete(next(j for j in first if j.conversation_id == "conv-1"), "w1")
    again = await q.claim("w2", 10)
    assert [j.conversation_id for j in again] == ["conv-1"]
    await q.db.dispose()


async def test_expired_lease_is_taken_over(database_url: str) -> None:
    q = await _queue(database_url, lease=0.3)
    await _enqueue(q, "conv-1")
    (job,) = await q.claim("dead-worker", 1)
    assert await q.claim("w2", 1) == []
    await asyncio.sleep(0.4)
    (taken,) = await q.claim("w2", 1)
    assert taken.id == job.id and taken.attempts == 2
    await q.complete(job, "dead-worker")  # the old owner's late completion changes nothing
    assert len(await _rows(q)) == 1
    await q.complete(taken, "w2")
    assert await _rows(q) == []
    await q.db.dispose()


async def test_heartbeat_keeps_the_lease(database_url: str) -> None:
    q = await _queue(database_url, lease=0.4)
    await _enqueue(q, "conv-1")
    (job,) = await q.claim("w1", 1)
    for _ in range(3):
        await asyncio.sleep(0.2)
        await q.heartbeat([job.id], "w1")
    assert await q.claim("w2", 1) == []
    await q.db.dispose()


async def test_retry_and_give_up(database_url: str) -> None:
    q = await _queue(database_url)
    await _enqueue(q, "conv-1")
    (job,) = await q.claim("w1", 1)
    await q.retry(job, "w1", utcnow() + timedelta(seconds=60), "boom", give_up=False)
    assert await q.claim("w1", 1) == []  # not due yet
    assert (await q.depth())["queued"] == 1
    async with q.db.write() as conn:
        await conn.execute(jobs.update().values(run_at=utcnow()))
    (again,) = await q.claim("w1", 1)
    assert again.attempts == 2
    await q.retry(again, "w1", utcnow(), "boom", give_up=True)
    assert await q.depth() == {"queued": 0, "running": 0, "failed": 1}
    await q.db.dispose()


async def test_concurrent_claimers_never_share_a_conversation(database_url: str) -> None:
    q = await _queue(database_url)
    for i in range(30):
        await _enqueue(q, f"conv-{i % 10}")
    claimed = await asyncio.gather(*[q.claim(f"w{i}", 5) for i in range(6)])
    locks = [j.conversation_id for batch in claimed for j in batch]
    assert len(locks) == len(set(locks)) == 10
    await q.db.dispose()
