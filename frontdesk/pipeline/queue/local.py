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
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from frontdesk.pipeline.queue.base import Job, JobQueue
from frontdesk.settings import Settings
from frontdesk.store import jobs as jobs_store
from frontdesk.store.db import Database, utcnow
from frontdesk.store.prepared import Prepared
from frontdesk.store.tables import jobs


class LocalQueue(JobQueue):
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.wakeup = asyncio.Event()
        # Built once: constructing these costs more than running them on SQLite.
        self._claim = self._claim_statement(db)
        self._delete = Prepared(
            jobs.delete().where(jobs.c.id == sa.bindparam("jid"), jobs.c.locked_by == sa.bindparam("me")),
            ["jid", "me"],
        )

    @staticmethod
    def _claim_statement(db: Database) -> sa.Update:
        mine, other = jobs.alias("mine"), jobs.alias("other")
        now: sa.BindParameter[datetime] = sa.bindparam("now")
        busy = sa.exists().where(
            other.c.conversation_id == mine.c.conversation_id, other.c.status == "running"
        )
        pick = (
            sa.select(mine.c.id)
            .where(
                sa.or_(
                    sa.and_(mine.c.status == "queued", mine.c.run_at <= now, ~busy),
                    sa.and_(mine.c.status == "running", mine.c.locked_until < now),
                )
            )
            .order_by(mine.c.id)
            .limit(sa.bindparam("n"))
        )
        if not db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        return (
            jobs.update()
            .where(jobs.c.id.in_(pick.scalar_subquery()))
            .values(
                status="running",
                locked_by=sa.bindparam("me"),
                locked_until=sa.bindparam("until"),
                attempts=jobs.c.attempts + 1,
            )
            .returning(
                jobs.c.id, jobs.c.tenant_id, jobs.c.conversation_id.label("conversation_id"), jobs.c.attempts
            )
        )

    # The jobs table's own: with it, the ingest queues a turn in the statement storing the message.
    enqueue = staticmethod(jobs_store.enqueue)

    def wake(self) -> None:
        self.wakeup.set()

    async def claim(self, worker_id: str, limit: int) -> list[Job]:
        now = utcnow()
        params = {"now": now, "n": limit, "me": worker_id, "until": now + self.lease}
        try:
            rows = await self.db.run_write(lambda conn: conn.execute(self._claim, params).all())
        except (IntegrityError, OperationalError):
            # Another process claimed a job of the same conversation in the same instant (PostgreSQL),
            # or the database is busy: nothing is lost, the next poll tries again.
            return []
        return sorted(
            (Job(r.id, r.tenant_id, r.conversation_id, r.attempts) for r in rows),
            key=lambda claimed: claimed.id,
        )

    def complete_in(self, conn: Connection, job: Job, worker_id: str) -> None:
        """Complete ``job`` inside the caller's transaction."""
        self._delete.execute(conn, {"jid": job.id, "me": worker_id})

    async def complete(self, job: Job, worker_id: str) -> None:
        await self.db.run_write(lambda conn: self.complete_in(conn, job, worker_id))

    async def retry(
        self, job: Job, worker_id: str, run_at: datetime, error: str | None, give_up: bool
    ) -> None:
        def _retry(conn: Connection) -> None:
            if give_up:
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id, jobs.c.locked_by == worker_id)
                    .values(status="failed", locked_by=None, locked_until=None, last_error=error)
                )
                return
            if self._delete.rowcount(conn, {"jid": job.id, "me": worker_id}):
                self.enqueue(conn, job.tenant_id, job.conversation_id, run_at, attempts=job.attempts)

        await self.db.run_write(_retry)

    async def heartbeat(self, job_ids: list[int], worker_id: str) -> None:
        if not job_ids:
            return
        until = utcnow() + self.lease
        await self.db.run_write(
            lambda conn: conn.execute(
                jobs.update()
                .where(jobs.c.id.in_(job_ids), jobs.c.locked_by == worker_id)
                .values(locked_until=until)
            )
        )

    async def depth(self) -> dict[str, int]:
        rows = await self.db.run_read(
            lambda conn: conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all()
        )
        counts = {"queued": 0, "running": 0, "failed": 0}
        counts.update({status: n for status, n in rows})
        return counts
