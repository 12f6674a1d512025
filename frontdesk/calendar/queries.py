"""Reads: a contact's appointments, the occupancy around a range, the sync summary of a tenant.

Plain functions of a synchronous connection, for ``Database.run_read``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.calendar.appointment import BOOKED, Appointment
from frontdesk.calendar.slots import Occupancy
from frontdesk.errors import NotFound
from frontdesk.store.calendar_tables import ANY_RESOURCE, calendar_appointments, calendar_busy, calendar_slots
from frontdesk.store.db import as_utc

a = calendar_appointments.c


def for_contact(
    conn: Connection, tenant_id: str, contact_id: str, since: datetime | None, limit: int = 20
) -> list[Appointment]:
    """The contact's booked appointments ending after ``since`` (None: all of them), soonest first."""
    where = [a.tenant_id == tenant_id, a.contact_id == contact_id, a.status == BOOKED]
    if since is not None:
        where.append(a.end_at > since)
    rows = conn.execute(
        sa.select(calendar_appointments).where(*where).order_by(a.start_at, a.appointment_id).limit(limit)
    )
    return [Appointment.from_row(r) for r in rows]


def owned(conn: Connection, tenant_id: str, contact_id: str | None, appointment_id: str) -> Appointment:
    """The appointment; another tenant's or (given ``contact_id``) another contact's is not found."""
    where = [a.appointment_id == appointment_id, a.tenant_id == tenant_id]
    if contact_id is not None:
        where.append(a.contact_id == contact_id)
    row = conn.execute(sa.select(calendar_appointments).where(*where)).first()
    if row is None:
        raise NotFound(f"no appointment {appointment_id!r} found")
    return Appointment.from_row(row)


def recent(
    conn: Connection, tenant_id: str, contact_id: str, service: str, start: datetime, since: datetime
) -> Appointment | None:
    """The contact's booking of ``service`` at ``start`` made after ``since``, if any (the duplicate rule)."""
    row = conn.execute(
        sa.select(calendar_appointments)
        .where(
            a.tenant_id == tenant_id,
            a.contact_id == contact_id,
            a.service == service,
            a.start_at == start,
            a.status == BOOKED,
            a.created_at >= since,
        )
        .order_by(a.created_at.desc())
        .limit(1)
    ).first()
    return Appointment.from_row(row) if row else None


def occupancy(conn: Connection, tenant_id: str, start: datetime, end: datetime) -> Occupancy:
    s = calendar_slots.c
    rows = conn.execute(
        sa.select(s.resource, s.slot_start, sa.func.count())
        .where(s.tenant_id == tenant_id, s.slot_start >= start, s.slot_start < end)
        .group_by(s.resource, s.slot_start)
    )
    taken: dict[datetime, int] = {}
    by_resource: dict[str, set[datetime]] = {}
    for resource, cell, count in rows:
        cell = as_utc(cell)
        if resource == ANY_RESOURCE:
            taken[cell] = count
        else:
            by_resource.setdefault(resource, set()).add(cell)
    b = calendar_busy.c
    busy = conn.execute(
        sa.select(b.start_at, b.end_at).where(b.tenant_id == tenant_id, b.start_at < end, b.end_at > start)
    )
    return Occupancy(
        taken=taken,
        by_resource={k: frozenset(v) for k, v in by_resource.items()},
        blocked=tuple((as_utc(x), as_utc(y)) for x, y in busy),
    )


def sync_summary(conn: Connection, tenant_id: str) -> dict[str, Any]:
    """How many appointments are pending, synced and failed, and the newest failure's error."""
    counts = {
        status: n
        for status, n in conn.execute(
            sa.select(a.sync_status, sa.func.count())
            .where(a.tenant_id == tenant_id, a.sync_status.is_not(None))
            .group_by(a.sync_status)
        )
    }
    last = conn.execute(
        sa.select(a.appointment_id, a.sync_error, a.sync_attempts)
        .where(a.tenant_id == tenant_id, a.sync_status == "failed")
        .order_by(a.sync_next_at.desc())
        .limit(1)
    ).first()
    return {
        "pending": counts.get("pending", 0),
        "synced": counts.get("synced", 0),
        "failed": counts.get("failed", 0),
        "last_error": (
            {"appointment_id": last.appointment_id, "error": last.sync_error, "attempts": last.sync_attempts}
            if last
            else None
        ),
    }
