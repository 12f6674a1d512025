"""Keeping a tenant's connected calendar in step, in the background, without ever losing a booking.

A booking is committed here first; writing it to CalDAV or Google comes after, from this loop. An
appointment whose ``sync_status`` is pending or failed and whose ``sync_next_at`` has come is
claimed (``sync_next_at`` moves a lease ahead, so two processes never push it at once), pushed,
and marked synced — only if it did not change meanwhile (``revision``). A failure is recorded
(``sync_error``, ``sync_attempts``) and retried with exponential backoff, forever: a calendar down
for a day catches up when it is back. Busy times are read back per tenant every ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
import structlog

from frontdesk.calendar import config as calendar_config
from frontdesk.calendar import state
from frontdesk.calendar.appointment import BOOKED, Appointment
from frontdesk.calendar.backend import CalendarBackend
from frontdesk.calendar.backends import backend_for
from frontdesk.calendar.config import CalendarConfig
from frontdesk.calendar.ics import CalendarEvent
from frontdesk.calendar.times import zone
from frontdesk.config.tenant_secrets import for_use
from frontdesk.errors import ConfigError, SyncFailed
from frontdesk.model.backoff import delay
from frontdesk.model.routing import TenantLookup
from frontdesk.security.secrets import SecretBox
from frontdesk.settings import Settings
from frontdesk.store.calendar_tables import calendar_appointments, calendar_busy
from frontdesk.store.db import Database, as_utc, utcnow
from frontdesk.store.tables import tenants

log = structlog.get_logger(__name__)
appointment_cols = calendar_appointments.c
DUE = ("pending", "failed")
TENANT_SCAN_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Connected:
    backend: CalendarBackend
    cfg: CalendarConfig
    tz: ZoneInfo

    @property
    def poll_seconds(self) -> int:
        block = self.cfg.caldav or self.cfg.google
        return block.poll_seconds if block else 300


class CalendarDeps(Protocol):
    """What the sync loop needs from the running system (``Runtime`` satisfies it)."""

    @property
    def db(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def secrets(self) -> SecretBox: ...

    @property
    def cache(self) -> TenantLookup: ...

    @property
    def outbound(self) -> httpx.AsyncClient:
        """The guarded client: calendar URLs are the tenant's."""
        ...


class CalendarSync:
    def __init__(
        self, deps: CalendarDeps, *, interval: float = 5.0, lease: float = 120.0, batch: int = 20
    ) -> None:
        self.deps = deps
        self.interval = interval
        self.lease = lease
        self.batch = batch
        self.tokens: dict[str, Any] = {}  # OAuth access tokens, shared by every push
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._next_scan = 0.0

    def poke(self) -> None:
        """Something changed: push now rather than at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="calendar-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                await self.push_due()
                if time.monotonic() >= self._next_scan:
                    self._next_scan = time.monotonic() + TENANT_SCAN_SECONDS
                    await self.refresh_due()
            except Exception:
                log.exception("calendar sync round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()

    # -- pushing appointments ----------------------------------------------------------------

    async def push_due(self, tenant_id: str | None = None) -> int:
        """Push every appointment that is due; how many were written."""
        now = utcnow()
        where = [appointment_cols.sync_status.in_(DUE), appointment_cols.sync_next_at <= now]
        if tenant_id is not None:
            where.append(appointment_cols.tenant_id == tenant_id)
        stmt = (
            sa.select(appointment_cols.appointment_id)
            .where(*where)
            .order_by(appointment_cols.sync_next_at)
            .limit(self.batch)
        )
        ids = await self.deps.db.run_read(lambda c: list(c.execute(stmt).scalars()))
        done = 0
        for appointment_id in ids:
            done += await self.push(appointment_id)
        return done

    async def push(self, appointment_id: str) -> bool:
        appt = await self.deps.db.run_write(lambda c: self._claim(c, appointment_id))
        if appt is None:
            return False  # another process has it, or it is no longer due
        try:
            connected = await self._connected(appt.tenant_id)
            if connected is None:
                await self._finish(
                    appt, status=None, error="no calendar connected any more", external_id=appt.external_id
                )
                return False
            backend = connected.backend
            event = CalendarEvent.of(appt)
            external_id = appt.external_id
            if appt.status == BOOKED:
                external_id = await backend.put(event, appt.external_id, appt.revision)
            else:
                await backend.remove(event, appt.external_id)
        except (SyncFailed, ConfigError) as exc:
            await self._failed(appt, exc.message)
            return False
        except Exception as exc:  # a bug or a surprise answer: still recorded, shown and retried
            log.exception("calendar sync crashed", appointment_id=appt.appointment_id)
            await self._failed(appt, _unexpected(exc))
            return False
        await self._finish(appt, status="synced", external_id=external_id)
        return True

    def _claim(self, conn: Any, appointment_id: str) -> Appointment | None:
        now = utcnow()
        claimed = conn.execute(
            calendar_appointments.update()
            .where(
                appointment_cols.appointment_id == appointment_id,
                appointment_cols.sync_status.in_(DUE),
                appointment_cols.sync_next_at <= now,
            )
            .values(
                sync_next_at=now + timedelta(seconds=self.lease),
                sync_attempts=appointment_cols.sync_attempts + 1,
            )
        ).rowcount
        if claimed != 1:
            return None
        row = conn.execute(
            sa.select(calendar_appointments).where(appointment_cols.appointment_id == appointment_id)
        ).one()
        return Appointment.from_row(row)

    async def _finish(
        self,
        appt: Appointment,
        *,
        status: str | None,
        error: str | None = None,
        external_id: str | None = None,
    ) -> None:
        def write(conn: Any) -> None:
            same = [
                appointment_cols.appointment_id == appt.appointment_id,
                appointment_cols.revision == appt.revision,
            ]
            done = conn.execute(
                calendar_appointments.update()
                .where(*same)
                .values(sync_status=status, sync_error=error, sync_next_at=None, external_id=external_id)
            ).rowcount
            if not done and external_id:  # changed meanwhile: still pending, but remember the event
                conn.execute(
                    calendar_appointments.update()
                    .where(appointment_cols.appointment_id == appt.appointment_id)
                    .values(external_id=external_id)
                )

        await self.deps.db.run_write(write)

    async def _failed(self, appt: Appointment, error: str) -> None:
        settings = self.deps.settings
        wait = delay(appt.sync_attempts, settings.retry_base_seconds, settings.retry_max_seconds)
        log.warning("calendar sync failed", appointment_id=appt.appointment_id, error=error)
        stmt = (
            calendar_appointments.update()
            .where(
                appointment_cols.appointment_id == appt.appointment_id,
                appointment_cols.revision == appt.revision,
            )
            .values(sync_status="failed", sync_error=error, sync_next_at=utcnow() + timedelta(seconds=wait))
        )
        await self.deps.db.run_write(lambda c: c.execute(stmt))

    async def retry_now(self, tenant_id: str) -> int:
        """Make the tenant's failed writes due at once, and its busy times (the "retry now" button)."""
        stmt = (
            calendar_appointments.update()
            .where(appointment_cols.tenant_id == tenant_id, appointment_cols.sync_status == "failed")
            .values(sync_next_at=utcnow())
        )

        def write(conn: Any) -> int:
            if state.read(conn, tenant_id) is not None:  # and read busy times again at the next round
                state.update(conn, tenant_id, utcnow(), busy_next_at=None)
            return conn.execute(stmt).rowcount

        count = await self.deps.db.run_write(write)
        self._next_scan = 0.0
        self.poke()
        return count

    # -- reading busy times back -------------------------------------------------------------

    async def _connected(self, tenant_id: str) -> Connected | None:
        """The tenant's connected calendar; None if it has none. ConfigError if its settings are wrong."""
        tenant = await self.deps.cache.tenant(tenant_id)
        if tenant is None or not (tenant.settings or {}).get("calendar"):
            return None
        cfg = calendar_config.load(for_use(tenant.settings, tenant_id, self.deps.secrets))
        backend = backend_for(cfg, self.deps.outbound, self.tokens)
        return Connected(backend, cfg, zone(tenant.timezone)) if backend else None

    async def refresh_due(self) -> None:
        rows = await self.deps.db.run_read(
            lambda c: c.execute(sa.select(tenants.c.tenant_id, tenants.c.settings)).all()
        )
        now = utcnow()
        for tenant_id, settings in rows:
            cal = (settings or {}).get("calendar") or {}
            if not (isinstance(cal, dict) and (cal.get("caldav") or cal.get("google"))):
                continue
            row = await self.deps.db.run_read(partial(state.read, tenant_id=tenant_id))
            due = row is None or row.busy_next_at is None or as_utc(row.busy_next_at) <= now
            if due:
                with contextlib.suppress(SyncFailed, ConfigError):
                    await self.refresh_busy(tenant_id)

    async def refresh_busy(self, tenant_id: str) -> int:
        """Read the connected calendar's busy times into ``calendar_busy``; how many spans."""
        now = utcnow()
        try:
            connected = await self._connected(tenant_id)
            if connected is None:
                return 0
            backend, cfg = connected.backend, connected.cfg
            horizon = now + timedelta(days=cfg.max_days_ahead + 1)
            spans = await backend.busy(now - timedelta(days=1), horizon, connected.tz)
        except (SyncFailed, ConfigError) as exc:
            await self._busy_failed(tenant_id, exc.message)
            raise
        except Exception as exc:  # e.g. an event we cannot read: recorded and retried like the rest
            log.exception("reading calendar busy times crashed", tenant_id=tenant_id)
            await self._busy_failed(tenant_id, _unexpected(exc))
            raise SyncFailed(f"reading busy times failed: {_unexpected(exc)}") from exc

        def write(conn: Any) -> None:
            conn.execute(calendar_busy.delete().where(calendar_busy.c.tenant_id == tenant_id))
            if spans:
                conn.execute(
                    calendar_busy.insert(),
                    [
                        {"tenant_id": tenant_id, "source": backend.name, "start_at": s, "end_at": e}
                        for s, e in spans
                    ],
                )
            state.update(
                conn,
                tenant_id,
                now,
                busy_synced_at=now,
                busy_error=None,
                busy_attempts=0,
                busy_next_at=now + timedelta(seconds=connected.poll_seconds),
            )

        await self.deps.db.run_write(write)
        return len(spans)

    async def _busy_failed(self, tenant_id: str, error: str) -> None:
        now = utcnow()
        settings = self.deps.settings
        log.warning("reading calendar busy times failed", tenant_id=tenant_id, error=error)

        def write(conn: Any) -> None:
            row = state.ensure(conn, tenant_id, now)
            attempts = row.busy_attempts + 1
            wait = delay(attempts, settings.retry_base_seconds, settings.retry_max_seconds)
            state.update(
                conn,
                tenant_id,
                now,
                busy_error=error,
                busy_attempts=attempts,
                busy_next_at=now + timedelta(seconds=wait),
            )

        await self.deps.db.run_write(write)


def _unexpected(exc: Exception) -> str:
    # The tenant sees this; the exception's text may quote what the calendar server sent.
    return f"{type(exc).__name__} (details in the server log)"
