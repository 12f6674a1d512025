"""Wake-ups between processes on PostgreSQL: LISTEN/NOTIFY on one channel.

One listening connection per process, opened when the first subscriber appears (a ``frontdesk
worker`` that only publishes never opens it). Keys to send are gathered while a NOTIFY is in flight
and sent together, one transaction on the hot path's connections: many replies a second cost a
few round trips, not one each. A payload is ``<origin> <key>``; a process skips its own keys, which
``Notifier.publish`` already delivered locally.

A lost listening connection is opened again (backoff up to 30 s); once listening again every local
subscriber is woken, since keys may have been missed meanwhile. Listeners keep a slow poll of
their own as a last safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets

import sqlalchemy as sa
import structlog
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from frontdesk.pipeline.notify import Notifier
from frontdesk.store.db import Database

log = structlog.get_logger(__name__)

CHANNEL = "frontdesk_wakeup"
# A listening connection that received nothing this long is pinged: a silently dead one shows up.
PING_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 30.0
_NOTIFY = sa.text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p")


def _notify(conn: Connection, payloads: list[str]) -> None:
    conn.execute(_NOTIFY, {"channel": CHANNEL, "payloads": payloads})


class PgRelay:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self.db = db
        self.notifier = notifier
        self.origin = secrets.token_hex(6)
        self.dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.listening = asyncio.Event()  # set while LISTEN is in effect (tests wait for it)
        self._pending: set[str] = set()
        self._sender: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None

    # ----------------------------------------------------------------------------------- sending

    def send(self, key: str) -> None:
        self._pending.add(key)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_pending())

    async def _send_pending(self) -> None:
        while self._pending:
            keys, self._pending = self._pending, set()
            payloads = [f"{self.origin} {key}" for key in sorted(keys)]
            try:
                await self.db.run_write(functools.partial(_notify, payloads=payloads))
            except Exception as exc:
                # The other processes' safety poll will find the replies; nothing is lost.
                log.warning("wake-up not sent to other processes", keys=len(keys), error=str(exc)[:200])

    # --------------------------------------------------------------------------------- listening

    def listen(self) -> None:
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(), name="frontdesk-listen")

    async def _listen(self) -> None:
        import psycopg

        backoff = 1.0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    backoff = 1.0
                    self.notifier.wake_all()  # anything published while not listening
                    while True:
                        async for note in conn.notifies(timeout=PING_SECONDS):
                            self._received(note.payload)
                        await conn.execute("SELECT 1")
            except Exception as exc:
                log.warning("listening for wake-ups failed; retrying", error=str(exc)[:200], retry_in=backoff)
            finally:
                self.listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _received(self, payload: str) -> None:
        origin, _, key = payload.partition(" ")
        if origin != self.origin and key:
            self.notifier.deliver(key)

    async def aclose(self) -> None:
        """Send what is pending, stop listening."""
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
