"""Book, reschedule and cancel: each one write transaction that takes or gives back seats.

These are plain functions of a synchronous connection, for ``Database.run_write``: whatever they
raise rolls the whole transaction back, so a refused reschedule leaves the old time held.
Occupancy rows go in with ``INSERT … ON CONFLICT DO NOTHING``: a taken seat costs one statement
and no savepoint, and on PostgreSQL a seat another transaction is inserting makes this one wait
for its outcome instead of guessing. Rows are always taken in one order (the tenant-wide seats, then
each resource in the configured order; cells and seats ascending), so two bookings cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from frontdesk.calendar import queries
from frontdesk.calendar.appointment import BOOKED, CANCELLED, Appointment
from frontdesk.calendar.slots import cells
from frontdesk.errors import BookingRefused, FullyBooked, NotFound
from frontdesk.model.ids import new_id
from frontdesk.store.calendar_tables import ANY_RESOURCE, calendar_appointments, calendar_busy, calendar_slots
from frontdesk.store.db import as_utc

# The same contact booking the same service at the same start again within this window is
# answered with the booking it already has (a model retrying, a customer repeating themselves).
DUPLICATE_WINDOW = timedelta(minutes=5)
FULL = "that time is fully booked"

appointment_cols = calendar_appointments.c
slot_cols = calendar_slots.c


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an appointment goes: its span, the tenant-wide seats, and the resources it may take."""

    start: datetime  # UTC
    end: datetime
    capacity: int
    resources: tuple[str, ...] | None = None  # candidates, in the configured order; None: no resources


@dataclass(frozen=True, slots=True)
class BookingRequest:
    tenant_id: str
    contact_id: str
    service: str
    customer_name: str
    place: Placement
    conversation_id: str | None = None
    notes: str = ""
    sync_backend: str | None = None  # set when a calendar is connected: the booking starts "pending"


@dataclass(frozen=True, slots=True)
class Booked:
    appointment: Appointment
    duplicate: bool = False


def book(conn: Connection, req: BookingRequest, now: datetime) -> Booked:
    _serialize_contact(conn, req.tenant_id, req.contact_id)
    since = now - DUPLICATE_WINDOW
    same = queries.recent(conn, req.tenant_id, req.contact_id, req.service, req.place.start, since)
    if same is not None:
        return Booked(same, duplicate=True)
    appointment_id = new_id("apt")
    conn.execute(
        calendar_appointments.insert().values(
            appointment_id=appointment_id,
            tenant_id=req.tenant_id,
            contact_id=req.contact_id,
            conversation_id=req.conversation_id,
            service=req.service,
            customer_name=req.customer_name,
            notes=req.notes,
            start_at=req.place.start,
            end_at=req.place.end,
            status=BOOKED,
            revision=0,
            created_at=now,
            updated_at=now,
            **{"sync_attempts": 0, **_sync_pending(req.sync_backend is not None, now)},
        )
    )
    resource = _hold(conn, req.tenant_id, appointment_id, req.place)
    if resource is not None:
        conn.execute(
            calendar_appointments.update()
            .where(appointment_cols.appointment_id == appointment_id)
            .values(resource=resource)
        )
    return Booked(_load(conn, appointment_id))


def reschedule(
    conn: Connection,
    tenant_id: str,
    contact_id: str | None,
    appointment_id: str,
    place: Placement,
    now: datetime,
    sync_backend: str | None = None,
) -> Appointment:
    current = _owned(conn, tenant_id, contact_id, appointment_id)
    if current.status != BOOKED:
        raise BookingRefused("that appointment was cancelled; book a new one instead")
    if current.start <= now:
        raise BookingRefused("that appointment has already started or passed, so it cannot be moved")
    if current.start == place.start and current.end == place.end:
        return current
    _release(conn, appointment_id)
    # Resources are tried in the configured order, as for a new booking, even if the current one
    # is free: one order for every transaction is what keeps two of them from deadlocking.
    resource = _hold(conn, tenant_id, appointment_id, place)
    conn.execute(
        calendar_appointments.update()
        .where(appointment_cols.appointment_id == appointment_id)
        .values(
            start_at=place.start,
            end_at=place.end,
            resource=resource,
            revision=appointment_cols.revision + 1,
            updated_at=now,
            **_sync_pending(sync_backend is not None or current.sync_status is not None, now),
        )
    )
    return _load(conn, appointment_id)


def cancel(
    conn: Connection,
    tenant_id: str,
    contact_id: str | None,
    appointment_id: str,
    now: datetime,
) -> Appointment:
    current = _owned(conn, tenant_id, contact_id, appointment_id)
    if current.status == CANCELLED:
        return current
    if current.start <= now:
        raise BookingRefused("that appointment has already started or passed, so it cannot be cancelled")
    _release(conn, appointment_id)
    conn.execute(
        calendar_appointments.update()
        .where(appointment_cols.appointment_id == appointment_id)
        .values(
            status=CANCELLED,
            revision=appointment_cols.revision + 1,
            updated_at=now,
            # Only an event that may exist out there needs removing.
            **_sync_pending(current.sync_status is not None or current.external_id is not None, now),
        )
    )
    return _load(conn, appointment_id)


def _sync_pending(needed: bool, now: datetime) -> dict[str, Any]:
    if not needed:
        return {}
    return {"sync_status": "pending", "sync_attempts": 0, "sync_next_at": now}


def _serialize_contact(conn: Connection, tenant_id: str, contact_id: str) -> None:
    """Make the duplicate check exact: one booking transaction per contact at a time.

    SQLite already runs one write transaction at a time; PostgreSQL takes a transaction-scoped
    advisory lock, so two conversations of one customer cannot both miss each other's booking.
    """
    if conn.dialect.name == "postgresql":
        key = f"calendar:{tenant_id}:{contact_id}"
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def _owned(conn: Connection, tenant_id: str, contact_id: str | None, appointment_id: str) -> Appointment:
    """The appointment, locked; another tenant's or another contact's is not found, as if absent."""
    where = [appointment_cols.appointment_id == appointment_id, appointment_cols.tenant_id == tenant_id]
    if contact_id is not None:
        where.append(appointment_cols.contact_id == contact_id)
    row = conn.execute(sa.select(calendar_appointments).where(*where).with_for_update()).first()
    if row is None:
        raise NotFound(f"no appointment {appointment_id!r} found")
    return Appointment.from_row(row)


def _load(conn: Connection, appointment_id: str) -> Appointment:
    row = conn.execute(
        sa.select(calendar_appointments).where(appointment_cols.appointment_id == appointment_id)
    ).one()
    return Appointment.from_row(row)


def _release(conn: Connection, appointment_id: str) -> None:
    conn.execute(calendar_slots.delete().where(slot_cols.appointment_id == appointment_id))


def _hold(conn: Connection, tenant_id: str, appointment_id: str, place: Placement) -> str | None:
    """Take the seats for ``place``; return the resource taken (None: the tenant books none)."""
    blocked = conn.execute(
        sa.select(calendar_busy.c.id)
        .where(
            calendar_busy.c.tenant_id == tenant_id,
            calendar_busy.c.start_at < place.end,
            calendar_busy.c.end_at > place.start,
        )
        .limit(1)
    ).first()
    if blocked is not None:
        raise FullyBooked("that time is not available")
    span = cells(place.start, place.end)
    if not _claim(conn, tenant_id, ANY_RESOURCE, span, place.capacity, appointment_id):
        raise FullyBooked(FULL)
    if place.resources is None:
        return None
    seen: set[str] = set()
    for name in place.resources:
        key = name.casefold()
        if key in seen:
            continue
        seen.add(key)
        if _claim(conn, tenant_id, key, span, 1, appointment_id):
            return name
        conn.execute(
            calendar_slots.delete().where(
                slot_cols.appointment_id == appointment_id, slot_cols.resource == key
            )
        )
    raise FullyBooked(FULL)


def _claim(
    conn: Connection, tenant_id: str, resource: str, span: list[datetime], seats: int, appointment_id: str
) -> bool:
    """One free seat in every cell of ``span`` for ``resource``, or False (rows taken so far stay)."""
    used: dict[datetime, set[int]] = {}
    rows = conn.execute(
        sa.select(slot_cols.slot_start, slot_cols.seat).where(
            slot_cols.tenant_id == tenant_id,
            slot_cols.resource == resource,
            slot_cols.slot_start >= span[0],
            slot_cols.slot_start <= span[-1],
        )
    )
    for row in rows:
        used.setdefault(as_utc(row.slot_start), set()).add(row.seat)
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(calendar_slots)
    insert = insert.on_conflict_do_nothing()
    for cell in span:
        taken = used.get(cell, set())
        if len(taken) >= seats:  # also holds seats above a since-lowered limit
            return False
        for seat in range(seats):
            if seat in taken:
                continue
            values = dict(
                tenant_id=tenant_id,
                resource=resource,
                slot_start=cell,
                seat=seat,
                appointment_id=appointment_id,
            )
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT.
            if conn.execute(insert.values(**values).returning(slot_cols.seat)).first() is not None:
                break
        else:
            return False
    return True
