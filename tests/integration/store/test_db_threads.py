"""``Database.run_write`` / ``run_read``: transactions in threads with long-lived connections.

What the PostgreSQL threads guarantee when the server drops a connection (a restart, an admin's
``pg_terminate_backend``): the transaction that meets the dead connection raises, once, and the
connection is replaced; after that first failure the other threads ping theirs before use, so
the calls that follow succeed. A connection idle for long is pinged before use, so after a quiet
period even the first call succeeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from frontdesk.store import db as db_module
from frontdesk.store.db import Database

pytestmark = pytest.mark.asyncio

_PID = sa.text("SELECT pg_backend_pid()")


def _create(conn: sa.Connection) -> None:
    conn.exec_driver_sql("CREATE TABLE fd_probe (id INTEGER PRIMARY KEY)")


def _insert(value: int) -> Callable[[sa.Connection], object]:
    return lambda conn: conn.execute(sa.text("INSERT INTO fd_probe (id) VALUES (:v)"), {"v": value})


def _ids(conn: sa.Connection) -> list[int]:
    return list(conn.execute(sa.text("SELECT id FROM fd_probe ORDER BY id")).scalars())


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _terminate(url: str, pids: set[int]) -> None:
    """Kill the server processes of ``pids`` from another connection; wait until they are gone."""
    with psycopg.connect(_admin_dsn(url), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"
        deadline = time.monotonic() + 10
        while (admin.execute(alive, (list(pids),)).fetchone() or (0,))[0]:
            assert time.monotonic() < deadline, "backends still alive"
            time.sleep(0.02)


def _backends(url: str) -> int:
    """Client connections to the test database, other than this one."""
    name = make_url(url).database
    with psycopg.connect(_admin_dsn(url), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
async def pg(pg_database: str) -> AsyncIterator[Database]:
    db = Database(pg_database, pool_size=1)  # one thread: every call meets the same connection
    await db.run_write(_create)
    try:
        yield db
    finally:
        await db.dispose()


async def test_run_write_commits_or_rolls_back_whole(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.run_write(_create)

        def insert_then_fail(conn: sa.Connection) -> None:
            _insert(1)(conn)
            _insert(2)(conn)
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await db.run_write(insert_then_fail)
        assert await db.run_read(_ids) == []
        with pytest.raises(sa.exc.IntegrityError):
            await db.run_write(lambda conn: [_insert(3)(conn), _insert(3)(conn)])
        await db.run_write(_insert(4))
        assert await db.run_read(_ids) == [4]
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_dropped_connection_fails_one_call_then_is_replaced(pg: Database, pg_database: str) -> None:
    await pg.run_write(_insert(1))
    pid = await pg.run_read(lambda conn: conn.execute(_PID).scalar_one())
    _terminate(pg_database, {pid})

    with pytest.raises(DBAPIError) as failed:
        await pg.run_write(_insert(2))
    assert failed.value.connection_invalidated

    await pg.run_write(_insert(3))
    assert await pg.run_read(lambda conn: conn.execute(_PID).scalar_one()) != pid
    assert await pg.run_read(_ids) == [1, 3]


@pytest.mark.postgres
async def test_an_idle_connection_is_pinged_before_use(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)  # every connection counts as idle
    db = Database(pg_database, pool_size=1)
    try:
        await db.run_write(_create)
        pid = await db.run_read(lambda conn: conn.execute(_PID).scalar_one())
        _terminate(pg_database, {pid})

        await db.run_write(_insert(1))  # the ping found the connection dead: a fresh one
        assert await db.run_read(_ids) == [1]
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_after_one_failure_the_other_threads_check_their_connections(pg_database: str) -> None:
    db = Database(pg_database, pool_size=2)
    try:
        await db.run_write(_create)
        # Two calls at once: both threads open their connection.
        sleep_pid = sa.text("SELECT pg_backend_pid() FROM pg_sleep(0.2)")
        pids = await asyncio.gather(*(db.run_read(lambda c: c.execute(sleep_pid).scalar_one()) for _ in "ab"))
        assert len(set(pids)) == 2
        _terminate(pg_database, set(pids))  # as a server restart would

        with pytest.raises(DBAPIError):
            await db.run_write(_insert(0))
        for i in range(1, 5):  # in pairs, so that both threads serve
            await asyncio.gather(db.run_write(_insert(2 * i)), db.run_write(_insert(2 * i + 1)))
        assert await db.run_read(_ids) == list(range(2, 10))
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_cancelled_caller_leaves_no_transaction_open(pg: Database) -> None:
    def slow_insert(conn: sa.Connection) -> None:
        _insert(1)(conn)
        conn.exec_driver_sql("SELECT pg_sleep(0.3)")

    task = asyncio.create_task(pg.run_write(slow_insert))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The thread finished the transaction (committed: fn returned); the connection is clean.
    await pg.run_write(_insert(2))
    assert await pg.run_read(_ids) == [1, 2]


@pytest.mark.postgres
async def test_dispose_closes_the_thread_connections(pg_database: str) -> None:
    db = Database(pg_database, pool_size=3)
    sleep = sa.text("SELECT pg_sleep(0.1)")
    await asyncio.gather(*(db.run_read(lambda c: c.execute(sleep)) for _ in range(3)))
    assert _backends(pg_database) >= 3
    await db.dispose()
    deadline = time.monotonic() + 5  # a backend leaves pg_stat_activity shortly after its client
    while _backends(pg_database) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert _backends(pg_database) == 0


@pytest.mark.parametrize("rerunnable", [False, True])
async def test_concurrent_writes_commit_together_and_fail_alone(database_url: str, rerunnable: bool) -> None:
    """Group commit (SQLite; PostgreSQL for rerunnable writes): writes in flight at once share a
    transaction, yet one that raises leaves no trace and takes none of the others with it."""
    db = Database(database_url)
    runs: list[int] = []
    try:
        await db.run_write(_create)

        def write(value: int) -> Callable[[sa.Connection], object]:
            def fn(conn: sa.Connection) -> int:
                runs.append(value)
                _insert(value)(conn)
                if value % 10 == 3:
                    _insert(1000 + value)(conn)  # written, then undone with the failure
                    raise RuntimeError(f"boom {value}")
                return value

            return fn

        outcomes = await asyncio.gather(
            # Keys spread the writes over PostgreSQL's lanes (committed concurrently).
            *(db.run_write(write(v), rerunnable=rerunnable, key=v % 5) for v in range(40)),
            return_exceptions=True,
        )
        failed = [v for v, o in zip(range(40), outcomes, strict=True) if isinstance(o, RuntimeError)]
        assert failed == [3, 13, 23, 33]
        assert [o for o in outcomes if not isinstance(o, BaseException)] == [
            v for v in range(40) if v not in failed
        ]
        assert await db.run_read(_ids) == [v for v in range(40) if v not in failed]
        # A rerunnable batch that met a failure ran again, one by one; other writes ran once each.
        assert sorted(set(runs)) == list(range(40))
        assert len(runs) > 40 if rerunnable else len(runs) == 40
    finally:
        await db.dispose()


async def test_a_cancelled_writer_never_runs_if_it_had_not_started(database_url: str) -> None:
    db = Database(database_url)
    ran: list[int] = []

    def slow(conn: sa.Connection) -> None:
        time.sleep(0.3)  # holds the batch in its thread while the next write waits
        ran.append(1)
        _insert(1)(conn)

    def second(conn: sa.Connection) -> None:
        ran.append(2)
        _insert(2)(conn)

    try:
        await db.run_write(_create)
        first = asyncio.ensure_future(db.run_write(slow, rerunnable=True))
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(db.run_write(second, rerunnable=True))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await first
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await db.run_write(_insert(3), rerunnable=True)
        assert ran == [1] and await db.run_read(_ids) == [1, 3]
    finally:
        await db.dispose()
