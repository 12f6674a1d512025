"""The database handle: one async engine, plus threads with synchronous connections for the hot path.

SQLite allows one writer at a time. Rather than let concurrent transactions collide and sleep in
SQLite's busy handler, writes in this process take an asyncio lock and open with
``BEGIN IMMEDIATE``; reads run concurrently under WAL. Other processes on the same file (a CLI next
to the server) still meet SQLite's busy timeout. PostgreSQL needs none of this.

The hot path (ingest, the queue, turns, the outbox) writes its SQL once as plain functions of a synchronous
connection and hands them to ``run_write`` / ``run_read``, which run them in threads that each keep
one long-lived synchronous connection: a whole transaction costs one thread hand-off instead of
event-loop round trips per statement. On a SQLite file: one writer thread (with group commit) and
two reader threads on the standard ``sqlite3`` driver (measured: ~0.1 ms against ~0.4 ms and more
per statement through aiosqlite). On PostgreSQL: ``pool_size`` threads on synchronous psycopg 3
connections (measured: ~0.7 ms of server CPU per accepted webhook against ~1.0 ms through the
async engine's ``run_sync``), with group commit for the writes marked ``rerunnable`` (the
ingest's): one transaction and one WAL flush for every webhook that arrived meanwhile. The
statements themselves run on the driver's cursor where it matters (``store.prepared``). The async
engine serves the rest (``write()`` / ``read()``: the API, the configuration). The repositories
(``store/repositories.py``) make that choice, never their callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import Connection, Engine, NullPool, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from frontdesk.store.prepared import Prepared

T = TypeVar("T")
# A write waiting for its batch: the function, its caller's future, whether it may run twice.
_Write = tuple[Callable[[Connection], Any], asyncio.Future, bool]
# Writes committed together at most (group commit); bounds the latency one batch adds.
GROUP_COMMIT_MAX = 64
# PostgreSQL: batches of rerunnable writes committed at once (each lane on one pool thread).
# Measured with bench/webhooks.py on 2 cores: 1 lane waits on the round trips (the server ~60%
# busy), 3 to 5 lanes make smaller batches (more commits, more CPU per webhook); 2 accepted most.
PG_LANES = 2
# A PostgreSQL connection left unused longer than this is pinged before its next transaction, so
# that the first transaction after a server restart (or an idle timeout) does not fail on it.
IDLE_PING_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
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
            # The hot path has its own ``pool_size`` connections (``_pg``); the async pool serves
            # the rest, so half of it keeps a process at its former 2 x pool_size connections at most
            # (PostgreSQL allows 100 by default, shared by every process on the server).
            half = max(1, pool_size // 2)
            kwargs.update(pool_size=half, max_overflow=half, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer: AsyncConnection | None = None  # SQLite: one long-lived connection for writes
        # Group commit: SQLite has one writer, so one lane; PostgreSQL keeps threads for the rest.
        self._lanes = [_Lane() for _ in range(1 if self.is_sqlite else max(1, min(PG_LANES, pool_size // 2)))]
        self._sync: _SqliteThreads | None = None
        self._pg: _ConnectionThreads | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine.sync_engine)
            if ":memory:" not in url and url.split(":///", 1)[-1]:
                self._sync = _SqliteThreads(url.replace("+aiosqlite", "+pysqlite", 1))
        else:
            # Each thread keeps its connection for good, so a pool would only add a checkout.
            sync_url = make_url(url).set(drivername="postgresql+psycopg")
            self._pg = _ConnectionThreads(
                create_engine(sync_url, echo=echo, poolclass=NullPool),
                pool_size,
                "frontdesk-pg",
                ping_after=IDLE_PING_SECONDS,
            )

    async def run_write(
        self, fn: Callable[[Connection], T], *, rerunnable: bool = False, key: Hashable = None
    ) -> T:
        """Run ``fn(conn)`` atomically: committed if it returns, rolled back if it raises.

        If the awaiting task is cancelled once ``fn`` has started, its transaction still ends
        (committed or rolled back) in its thread; only the result is dropped.

        Writes that arrive while others are being committed are committed together (group commit)
        on a SQLite file, and on PostgreSQL when ``rerunnable``: one transaction, one commit (one
        WAL flush) for the batch. A caller's result is returned only after the commit, and a
        write that raises never takes the others with it. On SQLite each write runs in its own
        savepoint, so one that raises is undone alone; a batch of ``rerunnable`` writes runs
        without savepoints and, if one of them raises, is rolled back and run again one by one.
        ``rerunnable`` thus means: ``fn`` touches nothing but ``conn``, so running it again after a
        rollback is harmless (the ingest's writes are such). Other PostgreSQL writes each take a
        transaction of their own on one of the pool's threads.

        On PostgreSQL, batches are committed in ``PG_LANES`` lanes at once, a write going to the
        lane of its ``key`` (the ingest's: the conversation): writes with one key are never in two
        concurrent transactions, so two batches never wait for each other's row locks (nor
        deadlock), and they commit in the order they were asked for.
        """
        if self._pg is not None and not rerunnable:
            return await self._pg.run(_transaction, fn)
        if self._pg is None and self._sync is None:
            async with self.write() as conn:
                return await conn.run_sync(fn)
        lane = self._lanes[hash(key) % len(self._lanes)]
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        item = (fn, future, rerunnable)
        lane.pending.append(item)
        if lane.drainer is None or lane.drainer.done():
            lane.drainer = asyncio.create_task(self._drain(lane))
        try:
            return await future
        except asyncio.CancelledError:
            if item in lane.pending:  # not started: it never runs
                lane.pending.remove(item)
            raise

    async def _drain(self, lane: _Lane) -> None:
        """Commit the lane's waiting writes, in batches, until none waits. One task per lane does
        it, so a writer waits for its own result only, not for a turn at the lock."""
        async with self._write_lock or contextlib.nullcontext():
            while lane.pending:
                batch, lane.pending = lane.pending[:GROUP_COMMIT_MAX], lane.pending[GROUP_COMMIT_MAX:]
                loop = asyncio.get_running_loop()
                if self._sync is not None:
                    runner = self._sync.writer.run(self._sync.write_batch, batch, loop)
                else:
                    assert self._pg is not None
                    runner = self._pg.run(_pg_batch, batch, loop)
                await _settled(runner, batch)

    async def run_read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` to read (statement-level snapshots on SQLite, one transaction on PostgreSQL)."""
        if self._pg is not None:
            return await self._pg.run(_transaction, fn)
        if self._sync is not None:
            return await self._sync.read(fn)
        async with self.read() as conn:
            return await conn.run_sync(fn)

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
        loop = asyncio.get_running_loop()
        draining = [
            d for d in (lane.drainer for lane in self._lanes) if d and not d.done() and d.get_loop() is loop
        ]
        if draining:
            await asyncio.wait(draining)  # the writes already waiting are committed first
        threads = self._sync or self._pg
        if threads is not None:
            try:
                closing = asyncio.get_running_loop().run_in_executor(None, threads.close)
            except RuntimeError:  # at interpreter exit (atexit): no new threads, and no call left running
                threads.close()
            else:
                await closing
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self.engine.dispose()


@dataclass(slots=True)
class _Lane:
    """Writes waiting to be committed together, and the task committing them."""

    pending: list[_Write] = field(default_factory=list)
    drainer: asyncio.Task | None = None


class _ConnectionThreads:
    """Threads that run functions of a synchronous connection, each thread keeping its own for good.

    A long-lived connection spares each call a pool checkout (and a pre-ping round trip). One found
    broken (SQLAlchemy invalidates a connection on a disconnect error, so the call that met it
    raises) is replaced on its thread's next call. With ``ping_after``, a connection idle that long,
    or older than a breakage seen on another thread (the server probably restarted), is pinged
    first: one round trip, rarely paid, instead of a failed transaction.
    """

    def __init__(self, engine: Engine, threads: int, name: str, *, ping_after: float | None = None) -> None:
        self.engine = engine
        self.ping_after = ping_after
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._local = threading.local()  # conn, used_at, epoch: this thread's connection
        self._lock = threading.Lock()
        self._open: set[Connection] = set()  # every thread's connection, for close()
        self._epoch = 0  # bumped whenever a connection is found broken

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(conn, *args)`` in one of the threads. A cancelled caller does not stop a call
        that has started (it runs to its end, its result dropped); one still queued never runs."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work, args)

    def _call(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._connection()
        try:
            return work(conn, *args)
        finally:
            if conn.invalidated or conn.closed:
                self._discard(conn)
                with self._lock:
                    self._epoch += 1
            else:
                self._local.used_at = time.monotonic()

    def _connection(self) -> Connection:
        local = self._local
        conn: Connection | None = getattr(local, "conn", None)
        if conn is not None and self._suspect(local):
            local.epoch = self._epoch
            if not _alive(conn):
                self._discard(conn)
                conn = None
        if conn is None:
            conn = self.engine.connect()
            with self._lock:
                self._open.add(conn)
            local.conn, local.used_at, local.epoch = conn, time.monotonic(), self._epoch
        return conn

    def _suspect(self, local: threading.local) -> bool:
        if self.ping_after is None:
            return False
        return local.epoch != self._epoch or time.monotonic() - local.used_at > self.ping_after

    def _discard(self, conn: Connection) -> None:
        self._local.conn = None
        with self._lock:
            self._open.discard(conn)
        with contextlib.suppress(Exception):
            conn.invalidate()
            conn.close()

    def close(self) -> None:
        """Stop the threads (letting running calls finish) and close their connections."""
        self._executor.shutdown(wait=True)
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


def _transaction(conn: Connection, fn: Callable[[Connection], T]) -> T:
    """PostgreSQL: ``fn(conn)`` in one transaction, committed if it returns, rolled back if it raises."""
    trans = conn.begin()
    try:
        result = fn(conn)
        trans.commit()
    except BaseException:
        try:
            trans.rollback()  # a no-op after a failed COMMIT or on a connection found broken
        except Exception:
            conn.invalidate()  # in an unknown state: its thread opens a fresh one
        raise
    return result


def _alive(conn: Connection) -> bool:
    try:
        conn.exec_driver_sql("SELECT 1")
        conn.rollback()
    except Exception:
        return False
    return True


class _SqliteThreads:
    """A SQLite file through the standard driver: one writer thread, two reader threads."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, pool_reset_on_return=None
        )
        _configure_sqlite(self.engine)
        self.writer = _ConnectionThreads(self.engine, 1, "frontdesk-sqlite-writer")
        self._readers = _ConnectionThreads(self.engine, 2, "frontdesk-sqlite-reader")

    @staticmethod
    def _write(conn: Connection, fn: Callable[[Connection], T]) -> T:
        _BEGIN_IMMEDIATE.execute(conn)
        try:
            result = fn(conn)
            _COMMIT.execute(conn)
        except BaseException:
            try:
                conn.exec_driver_sql("ROLLBACK")
            except Exception:
                conn.invalidate()  # its thread opens a fresh connection for the next write
            raise
        return result

    def write_batch(self, conn: Connection, batch: list[_Write], loop: asyncio.AbstractEventLoop) -> None:
        """Run the writes of ``batch`` in one transaction (``Database.run_write``); settle their futures."""
        fns = [fn for fn, _, _ in batch]
        outcome: list[tuple[bool, Any]]
        if len(batch) == 1:
            try:
                outcome = [(True, self._write(conn, fns[0]))]
            except BaseException as exc:
                outcome = [(False, exc)]
        elif all(rerunnable for _, _, rerunnable in batch):
            try:
                values = self._write(conn, lambda conn: [fn(conn) for fn in fns])
                outcome = [(True, value) for value in values]
            except Exception:  # rolled back: each alone now, in its savepoint
                outcome = self._write(conn, lambda conn: [_in_savepoint(conn, fn) for fn in fns])
        else:
            outcome = self._write(conn, lambda conn: [_in_savepoint(conn, fn) for fn in fns])
        # One wake-up of the event loop for the whole batch, not one per write.
        loop.call_soon_threadsafe(_settle, [future for _, future, _ in batch], outcome)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        # No transaction: with the driver in autocommit mode each statement reads its own snapshot.
        return await self._readers.run(fn)

    def close(self) -> None:
        self.writer.close()
        self._readers.close()
        self.engine.dispose()


def _configure_sqlite(engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions get in the way).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


_BEGIN_IMMEDIATE = Prepared(text("BEGIN IMMEDIATE"))
_COMMIT = Prepared(text("COMMIT"))
_SAVEPOINT = Prepared(text("SAVEPOINT fd_write"))
_RELEASE = Prepared(text("RELEASE fd_write"))


def _in_savepoint(conn: Connection, fn: Callable[[Connection], Any]) -> tuple[bool, Any]:
    _SAVEPOINT.execute(conn)
    try:
        value = fn(conn)
    except Exception as exc:
        conn.exec_driver_sql("ROLLBACK TO fd_write")
        _RELEASE.execute(conn)
        return False, exc
    _RELEASE.execute(conn)
    return True, value


def _pg_batch(conn: Connection, batch: list[_Write], loop: asyncio.AbstractEventLoop) -> None:
    """PostgreSQL group commit of ``rerunnable`` writes: one transaction; if a write raises, the
    batch is rolled back and each write runs again in its own transaction."""
    fns = [fn for fn, _, _ in batch]
    outcome: list[tuple[bool, Any]] = []
    try:
        outcome = [(True, value) for value in _transaction(conn, lambda conn: [fn(conn) for fn in fns])]
    except Exception as exc:
        if len(fns) == 1:
            outcome = [(False, exc)]
        else:
            for fn in fns:
                try:
                    outcome.append((True, _transaction(conn, fn)))
                except Exception as failed:
                    outcome.append((False, failed))
    loop.call_soon_threadsafe(_settle, [future for _, future, _ in batch], outcome)


async def _settled(runner: Awaitable[None], batch: list[_Write]) -> None:
    """Await a batch's thread; if it failed as a whole (the commit itself), every write failed."""
    try:
        await runner
    except BaseException as exc:
        cancelled = isinstance(exc, asyncio.CancelledError)
        for _, future, _ in batch:
            if not future.done():
                # Cancelled, not failed with CancelledError: a future whose exception nobody
                # reads (its caller is the task being cancelled) is logged at exit as an error.
                if cancelled:
                    future.cancel()
                else:
                    future.set_exception(exc)
        if cancelled:
            raise


def _settle(futures: list[asyncio.Future], outcome: list[tuple[bool, Any]]) -> None:
    for future, (ok, value) in zip(futures, outcome, strict=True):
        if future.done():  # its caller was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
