"""Appointments as the API lists them, each with its tenant's time zone and its contact's name
(the calendar books and syncs them: ``calendar.store``, ``calendar.sync``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Row

from frontdesk.store.calendar_tables import calendar_appointments
from frontdesk.store.db import Database
from frontdesk.store.tables import contacts, tenants

appointment = calendar_appointments.c

_WITH_NAMES = (
    sa.select(calendar_appointments, tenants.c.timezone, contacts.c.display_name)
    .join(tenants, tenants.c.tenant_id == appointment.tenant_id)
    .join(contacts, contacts.c.contact_id == appointment.contact_id)
)


async def page(
    db: Database,
    *,
    tenant_id: str | None = None,
    contact_id: str | None = None,
    status: str | None = None,
    sync_status: str | None = None,
    start_from: datetime | None = None,
    start_before: datetime | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[int, Sequence[Row]]:
    """How many appointments match (None: any), and the ``limit`` after the first ``skip``, by start."""
    filters = [
        column == value
        for column, value in (
            (appointment.tenant_id, tenant_id),
            (appointment.contact_id, contact_id),
            (appointment.status, status),
            (appointment.sync_status, sync_status),
        )
        if value is not None
    ]
    if start_from is not None:
        filters.append(appointment.start_at >= start_from)
    if start_before is not None:
        filters.append(appointment.start_at < start_before)
    total = sa.select(sa.func.count()).select_from(calendar_appointments).where(*filters)
    rows = (
        _WITH_NAMES.where(*filters)
        .order_by(appointment.start_at, appointment.appointment_id)
        .offset(skip)
        .limit(limit)
    )
    async with db.read() as conn:
        return (await conn.execute(total)).scalar_one(), (await conn.execute(rows)).all()


async def get(db: Database, appointment_id: str) -> Row | None:
    """One appointment (with its tenant's time zone and its contact's name); None if there is none."""
    async with db.read() as conn:
        return (await conn.execute(_WITH_NAMES.where(appointment.appointment_id == appointment_id))).first()
