"""Concurrent bookings: the database, not the application, decides who gets the last seat."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from frontdesk.agents.tools import ToolError
from frontdesk.calendar import FullyBooked, TenantCalendar
from frontdesk.store.calendar_tables import ANY_RESOURCE, calendar_appointments, calendar_slots
from frontdesk.store.db import utcnow
from tests.integration.calendar.support import (
    at,
    call,
    instant,
    make_contact,
    make_tenant,
    next_weekday,
    tool_context,
)

RACERS = 12  # under the PostgreSQL pool's 20 connections, so every one really runs at once


async def _race(runtime, tenant: str, contacts: list[str], start: str) -> list:  # type: ignore[no-untyped-def]
    ctxs = [tool_context(runtime, tenant, c) for c in contacts]
    return await asyncio.gather(
        *(
            call(ctx, "book_appointment", service="Haircut", start=start, name=f"racer {i}")
            for i, ctx in enumerate(ctxs)
        ),
        return_exceptions=True,
    )


async def _count(runtime, table: sa.Table) -> int:  # type: ignore[no-untyped-def]
    async with runtime.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar()


async def test_last_place_goes_to_exactly_one(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, max_concurrent=1)
    contacts = [await make_contact(runtime, tenant) for _ in range(RACERS)]
    results = await _race(runtime, tenant, contacts, at(next_weekday(0), "10:00"))
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if not isinstance(r, dict)]
    assert len(won) == 1, results
    assert all(isinstance(e, ToolError) and "fully booked" in e.message for e in lost), lost
    assert await _count(runtime, calendar_appointments) == 1
    assert await _count(runtime, calendar_slots) == 6


async def test_a_slot_for_three_takes_exactly_three(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, max_concurrent=3)
    contacts = [await make_contact(runtime, tenant) for _ in range(RACERS)]
    results = await _race(runtime, tenant, contacts, at(next_weekday(0), "10:00"))
    assert sum(isinstance(r, dict) for r in results) == 3, results
    async with runtime.db.read() as conn:
        seats = (await conn.execute(sa.select(calendar_slots.c.seat).distinct())).scalars().all()
    assert sorted(seats) == [0, 1, 2]


async def test_overlapping_services_race_for_shared_cells(runtime) -> None:  # type: ignore[no-untyped-def]
    """A 90-minute colour at 09:00 and haircuts at 09:30 and 10:00 all want the same cells."""
    tenant = await make_tenant(runtime, max_concurrent=1)
    day = next_weekday(0)
    ctxs = [tool_context(runtime, tenant, await make_contact(runtime, tenant)) for _ in range(6)]
    wants = [("Colour", "09:00"), ("Haircut", "09:30"), ("Haircut", "10:00")] * 2
    results = await asyncio.gather(
        *(
            call(ctx, "book_appointment", service=service, start=at(day, hhmm), name="x")
            for ctx, (service, hhmm) in zip(ctxs, wants, strict=True)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, dict)]
    # Either the colour alone, or haircuts that do not overlap one another: never an overlap.
    assert won and (len(won) == 1 or all(r["service"] == "Haircut" for r in won)), results
    assert len({r["start"] for r in won}) == len(won)


async def test_one_customer_twice_at_once_is_one_booking(runtime) -> None:  # type: ignore[no-untyped-def]
    """Two conversations of the same contact booking the same thing concurrently: one booking."""
    tenant = await make_tenant(runtime, max_concurrent=5)
    contact = await make_contact(runtime, tenant)
    results = await _race(runtime, tenant, [contact] * 6, at(next_weekday(0), "10:00"))
    assert len({r["appointment_id"] for r in results}) == 1, results
    assert sum(not r["duplicate"] for r in results) == 1
    assert await _count(runtime, calendar_appointments) == 1


async def test_racing_reschedules_into_one_place(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, max_concurrent=1)
    day = next_weekday(0)
    now = utcnow()
    cal = TenantCalendar.of(runtime.db, tenant, (await runtime.cache.tenant(tenant)).settings, "Europe/Paris")
    service = cal.cfg.service("Haircut")
    contacts = [await make_contact(runtime, tenant) for _ in range(6)]
    ids = []
    for i, contact in enumerate(contacts):
        booked = await cal.book(
            contact, service, instant(day, f"{13 + i // 2}:{'30' if i % 2 else '00'}"), "x", now
        )
        ids.append(booked.appointment.appointment_id)
    target = instant(day, "10:00")
    results = await asyncio.gather(
        *(cal.reschedule(c, i, target, now) for c, i in zip(contacts, ids, strict=True)),
        return_exceptions=True,
    )
    moved = [r for r in results if not isinstance(r, Exception)]
    assert len(moved) == 1 and all(isinstance(r, FullyBooked) for r in results if isinstance(r, Exception))
    # The losers kept their old times.
    async with runtime.db.read() as conn:
        starts = (await conn.execute(sa.select(calendar_appointments.c.start_at))).scalars().all()
    assert len(set(starts)) == 6


async def test_the_database_itself_refuses_a_second_seat_row(runtime) -> None:  # type: ignore[no-untyped-def]
    """Whatever code writes it, (tenant, resource, cell, seat) cannot be taken twice."""
    tenant = await make_tenant(runtime, max_concurrent=1)
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    booked = await call(
        ctx, "book_appointment", service="Haircut", start=at(next_weekday(0), "10:00"), name="A"
    )
    async with runtime.db.read() as conn:
        cell = (await conn.execute(sa.select(calendar_slots.c.slot_start).limit(1))).scalar()
    row = {
        "tenant_id": tenant,
        "resource": ANY_RESOURCE,
        "slot_start": cell,
        "seat": 0,
        "appointment_id": booked["appointment_id"],
    }
    with pytest.raises(IntegrityError):
        async with runtime.db.write() as conn:
            await conn.execute(calendar_slots.insert().values(**row))
