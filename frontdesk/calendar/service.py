"""One tenant's calendar: its rules applied to availability, bookings, moves and cancellations.

The agent tools and the API call this; it checks what can be checked without the database
(business hours, the past, the grid) and leaves capacity to the transaction in ``store.py``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from frontdesk.calendar import config as calendar_config
from frontdesk.calendar import queries, store
from frontdesk.calendar.appointment import Appointment
from frontdesk.calendar.config import CalendarConfig, Resource, Service
from frontdesk.calendar.slots import free_starts, refusal
from frontdesk.calendar.times import zone
from frontdesk.errors import BookingRefused, ConfigError
from frontdesk.store.db import Database

MAX_RANGE_DAYS = 31
DEADLOCK_RETRIES = 3
RETRYABLE = ("40P01", "40001")  # deadlock detected, serialization failure
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TenantCalendar:
    db: Database
    tenant_id: str
    cfg: CalendarConfig
    tz: ZoneInfo

    @classmethod
    def of(
        cls, db: Database, tenant_id: str, settings: dict[str, Any] | None, timezone: str
    ) -> TenantCalendar:
        """ConfigError when the tenant has no calendar, or an invalid one."""
        return cls(db, tenant_id, calendar_config.load(settings), zone(timezone))

    async def _write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a write transaction, again if PostgreSQL broke a deadlock by aborting it.

        Seats are taken in one global order, but a reschedule releases its old seats first and
        keeps them locked until commit, so two crossing moves can still wait on each other.
        """
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                return await self.db.run_write(fn)
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) not in RETRYABLE or attempt == DEADLOCK_RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")

    def _resources(self, service: Service, wanted: str | None) -> list[Resource] | None:
        return self.cfg.resources_for(service, wanted) if self.cfg.resources else None

    def _placement(self, service: Service, start: datetime, wanted: str | None) -> store.Placement:
        resources = self._resources(service, wanted)
        names = tuple(r.name for r in resources) if resources is not None else None
        return store.Placement(start, start + service.duration, self.cfg.capacity, names)

    def check(self, service: Service, start: datetime, now: datetime) -> None:
        reason = refusal(self.cfg, self.tz, start, service.duration, now, service.name)
        if reason:
            raise BookingRefused(reason)

    async def availability(
        self, first: date, last: date, service: Service, now: datetime, resource: str | None = None
    ) -> list[datetime]:
        """Free starts for ``service`` from local day ``first`` to ``last``, inclusive."""
        if (last - first).days >= MAX_RANGE_DAYS:
            raise BookingRefused(f"ask for at most {MAX_RANGE_DAYS} days at a time")
        resources = self._resources(service, resource)
        begin = datetime.combine(first, datetime.min.time(), tzinfo=self.tz) - timedelta(days=1)
        end = datetime.combine(last, datetime.min.time(), tzinfo=self.tz) + timedelta(days=2)
        occupied = await self.db.run_read(lambda c: queries.occupancy(c, self.tenant_id, begin, end))
        return free_starts(self.cfg, self.tz, service.duration, first, last, now, occupied, resources)

    async def nearest(
        self, service: Service, around: datetime, now: datetime, count: int = 3
    ) -> list[datetime]:
        """Free starts closest to ``around`` on its day and the next, for a refusal to offer instead."""
        day = around.astimezone(self.tz).date()
        free = await self.availability(day, day + timedelta(days=1), service, now)
        return sorted(free, key=lambda t: abs(t - around))[:count]

    async def book(
        self,
        contact_id: str,
        service: Service,
        start: datetime,
        name: str,
        now: datetime,
        *,
        conversation_id: str | None = None,
        resource: str | None = None,
        notes: str = "",
    ) -> store.Booked:
        req = store.BookingRequest(
            tenant_id=self.tenant_id,
            contact_id=contact_id,
            service=service.name,
            customer_name=name,
            place=self._placement(service, start, resource),
            conversation_id=conversation_id,
            notes=notes,
            sync_backend=self.cfg.sync_backend,
        )
        try:
            self.check(service, start, now)
        except BookingRefused:
            # A repeat of a booking just made still gets it back, even if the rules moved since.
            booked = await self._recent_duplicate(req, now)
            if booked is None:
                raise
            return booked
        return await self._write(lambda c: store.book(c, req, now))

    async def _recent_duplicate(self, req: store.BookingRequest, now: datetime) -> store.Booked | None:
        since = now - store.DUPLICATE_WINDOW
        found = await self.db.run_read(
            lambda c: queries.recent(c, self.tenant_id, req.contact_id, req.service, req.place.start, since)
        )
        return store.Booked(found, duplicate=True) if found else None

    async def reschedule(
        self, contact_id: str | None, appointment_id: str, start: datetime, now: datetime
    ) -> Appointment:
        current = await self.get(contact_id, appointment_id)
        try:
            service = self.cfg.service(current.service)
        except ConfigError:
            # The service left the menu since: keep the booked duration.
            service = Service(name=current.service, duration_minutes=_minutes(current.end - current.start))
        self.check(service, start, now)
        place = self._placement(service, start, None)
        return await self._write(
            lambda c: store.reschedule(
                c, self.tenant_id, contact_id, appointment_id, place, now, self.cfg.sync_backend
            )
        )

    async def cancel(self, contact_id: str | None, appointment_id: str, now: datetime) -> Appointment:
        return await self._write(lambda c: store.cancel(c, self.tenant_id, contact_id, appointment_id, now))

    async def get(self, contact_id: str | None, appointment_id: str) -> Appointment:
        return await self.db.run_read(lambda c: queries.owned(c, self.tenant_id, contact_id, appointment_id))

    async def upcoming(self, contact_id: str, now: datetime, include_past: bool = False) -> list[Appointment]:
        since = None if include_past else now
        return await self.db.run_read(lambda c: queries.for_contact(c, self.tenant_id, contact_id, since))


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
