"""The database handle: one async engine, with SQLite's single writer made explicit.

SQLite allows one writer at a time. Rather than let concurrent transactions collide and sleep in
SQLite's busy handler, writes in this process take an asyncio lock and open with
``BEGIN IMMEDIATE``; reads run concurrently under WAL. Other processes on the same file (a CLI next
to the server) still meet SQLite's busy timeout. PostgreSQL needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # We always end our transactions explicitly (COMMIT/ROLLBACK), so the pool's own
            # rollback on check-in would only cost a round trip to the driver thread.
            kwargs.update(connect_args={"timeout": 30}, pool_reset_on_return=None)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer: AsyncConnection | None = None  # SQLite: one long-lived connection for writes
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that will write; committed on success, rolled back on error."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            if self._writer is None or self._writer.closed:
                self._writer = await self.engine.connect()
            conn = self._writer
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await self._rollback_writer(conn)
                raise
            try:
                await conn.exec_driver_sql("COMMIT")
            except BaseException:
                await self._rollback_writer(conn)
                raise

    async def _rollback_writer(self, conn: AsyncConnection) -> None:
        try:
            await asyncio.shield(conn.exec_driver_sql("ROLLBACK"))
        except BaseException:
            # Cancelled or broken mid-transaction: drop the connection (SQLite rolls back what it
            # held) and open a fresh one for the next write.
            self._writer = None
            with contextlib.suppress(BaseException):
                await conn.invalidate()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading. On SQLite each statement reads its own committed snapshot
        (no BEGIN: a round trip saved on the hot path); on PostgreSQL, one transaction."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                yield conn
            else:
                async with conn.begin():
                    yield conn

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions get in the way).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
