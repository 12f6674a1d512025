"""The embedded queue: a ``jobs`` table in the application database, consumed in process.

Two partial unique indexes make it correct without any locking of our own: at most one *queued*
job per conversation (a new message for a conversation whose turn is still waiting just joins it:
burst debounce) and at most one *running* job per conversation (strict order). A job whose lease ran
out (its worker died) is claimable again. It runs on SQLite and on PostgreSQL (with SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.pipeline.queue.base import Job, JobQueue
from frontdesk.settings import Settings
from frontdesk.store.db import Database, utcnow
from frontdesk.store.dialect import greatest, insert, least
from frontdesk.store.tables import jobs

QUEUED = sa.text("status = 'queued'")


class LocalQueue(JobQueue):
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.wakeup = asyncio.Event()
        # Built once: constructing an upsert costs more than running it on SQLite.
        stmt = insert(db, jobs)
        self._upsert = stmt.on_conflict_do_update(
            index_elements=[jobs.c.lock],
            index_where=QUEUED,
            set_={
                "run_at": least(db, jobs.c.run_at, stmt.excluded.run_at),
                "attempts": greatest(db, jobs.c.attempts, stmt.excluded.attempts),
            },
        )

    async def enqueue(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        lock: str,
        run_at: datetime | None = None,
        attempts: int = 0,
    ) -> None:
        await conn.execute(
            self._upsert,
            {
                "tenant_id": tenant_id,
                "lock": lock,
                "kind": "conversation",
                "status": "queued",
                "attempts": attempts,
                "run_at": run_at or utcnow(),
            },
        )

    def wake(self) -> None:
        self.wakeup.set()

    async def claim(self, worker_id: str, limit: int) -> list[Job]:
        now = utcnow()
        j, r = jobs.alias("j"), jobs.alias("r")
        lock_busy = sa.exists().where(r.c.lock == j.c.lock, r.c.status == "running")
        pick = (
            sa.select(j.c.id)
            .where(
                sa.or_(
                    sa.and_(j.c.status == "queued", j.c.run_at <= now, ~lock_busy),
                    sa.and_(j.c.status == "running", j.c.locked_until < now),
                )
            )
            .order_by(j.c.id)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            jobs.update()
            .where(jobs.c.id.in_(pick.scalar_subquery()))
            .values(
                status="running",
                locked_by=worker_id,
                locked_until=now + self.lease,
                attempts=jobs.c.attempts + 1,
            )
            .returning(jobs.c.id, jobs.c.tenant_id, jobs.c.lock, jobs.c.attempts)
        )
        try:
            async with self.db.write() as conn:
                rows = (await conn.execute(stmt)).all()
        except (IntegrityError, OperationalError):
            # Another process claimed a job of the same conversation in the same instant (PostgreSQL),
            # or the database is busy: nothing is lost, the next poll tries again.
            return []
        return sorted(
            (Job(id=r.id, tenant_id=r.tenant_id, lock=r.lock, attempts=r.attempts) for r in rows),
            key=lambda x: x.id,
        )

    async def complete(self, job: Job, worker_id: str, conn: AsyncConnection | None = None) -> None:
        stmt = jobs.delete().where(jobs.c.id == job.id, jobs.c.locked_by == worker_id)
        if conn is not None:
            await conn.execute(stmt)
            return
        async with self.db.write() as own:
            await own.execute(stmt)

    async def retry(
        self, job: Job, worker_id: str, run_at: datetime, error: str | None, give_up: bool
    ) -> None:
        async with self.db.write() as conn:
            if give_up:
                await conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id, jobs.c.locked_by == worker_id)
                    .values(status="failed", locked_by=None, locked_until=None, last_error=error)
                )
                return
            gone = await conn.execute(jobs.delete().where(jobs.c.id == job.id, jobs.c.locked_by == worker_id))
            if gone.rowcount:
                await self.enqueue(conn, job.tenant_id, job.lock, run_at, attempts=job.attempts)

    async def heartbeat(self, job_ids: list[int], worker_id: str) -> None:
        if not job_ids:
            return
        async with self.db.write() as conn:
            await conn.execute(
                jobs.update()
                .where(jobs.c.id.in_(job_ids), jobs.c.locked_by == worker_id)
                .values(locked_until=utcnow() + self.lease)
            )

    async def depth(self) -> dict[str, int]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status))
            ).all()
        counts = {"queued": 0, "running": 0, "failed": 0}
        counts.update({status: n for status, n in rows})
        return counts
