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

appointment_cols = calendar_appointments.c


def for_contact(
    conn: Connection, tenant_id: str, contact_id: str, since: datetime | None, limit: int = 20
) -> list[Appointment]:
    """The contact's booked appointments ending after ``since`` (None: all of them), soonest first."""
    where = [
        appointment_cols.tenant_id == tenant_id,
        appointment_cols.contact_id == contact_id,
        appointment_cols.status == BOOKED,
    ]
    if since is not None:
        where.append(appointment_cols.end_at > since)
    rows = conn.execute(
        sa.select(calendar_appointments)
        .where(*where)
        .order_by(appointment_cols.start_at, appointment_cols.appointment_id)
        .limit(limit)
    )
    return [Appointment.from_row(r) for r in rows]


def owned(conn: Connection, tenant_id: str, contact_id: str | None, appointment_id: str) -> Appointment:
    """The appointment; another tenant's or (given ``contact_id``) another contact's is not found."""
    where = [appointment_cols.appointment_id == appointment_id, appointment_cols.tenant_id == tenant_id]
    if contact_id is not None:
        where.append(appointment_cols.contact_id == contact_id)
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
            appointment_cols.tenant_id == tenant_id,
            appointment_cols.contact_id == contact_id,
            appointment_cols.service == service,
            appointment_cols.start_at == start,
            appointment_cols.status == BOOKED,
            appointment_cols.created_at >= since,
        )
        .order_by(appointment_cols.created_at.desc())
        .limit(1)
    ).first()
    return Appointment.from_row(row) if row else None


def occupancy(conn: Connection, tenant_id: str, start: datetime, end: datetime) -> Occupancy:
    slot_cols = calendar_slots.c
    rows = conn.execute(
        sa.select(slot_cols.resource, slot_cols.slot_start, sa.func.count())
        .where(slot_cols.tenant_id == tenant_id, slot_cols.slot_start >= start, slot_cols.slot_start < end)
        .group_by(slot_cols.resource, slot_cols.slot_start)
    )
    taken: dict[datetime, int] = {}
    by_resource: dict[str, set[datetime]] = {}
    for resource, cell, count in rows:
        cell = as_utc(cell)
        if resource == ANY_RESOURCE:
            taken[cell] = count
        else:
            by_resource.setdefault(resource, set()).add(cell)
    busy_cols = calendar_busy.c
    busy = conn.execute(
        sa.select(busy_cols.start_at, busy_cols.end_at).where(
            busy_cols.tenant_id == tenant_id, busy_cols.start_at < end, busy_cols.end_at > start
        )
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
            sa.select(appointment_cols.sync_status, sa.func.count())
            .where(appointment_cols.tenant_id == tenant_id, appointment_cols.sync_status.is_not(None))
            .group_by(appointment_cols.sync_status)
        )
    }
    last = conn.execute(
        sa.select(
            appointment_cols.appointment_id, appointment_cols.sync_error, appointment_cols.sync_attempts
        )
        .where(appointment_cols.tenant_id == tenant_id, appointment_cols.sync_status == "failed")
        .order_by(appointment_cols.sync_next_at.desc())
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
