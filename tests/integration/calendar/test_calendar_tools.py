"""The five calendar tools through a ToolContext and a real runtime, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from frontdesk.agents.tools import ToolError
from frontdesk.store.calendar_tables import calendar_appointments, calendar_slots
from frontdesk.store.db import utcnow
from tests.integration.calendar.support import (
    PARIS,
    at,
    call,
    make_contact,
    make_tenant,
    next_weekday,
    set_calendar,
    tool_context,
)

MONDAY = 0


async def test_book_list_and_the_answer_shape(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime)
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant, "Marie"))
    day = next_weekday(MONDAY)
    booked = await call(
        ctx, "book_appointment", service="haircut", start=at(day, "10:00"), name="Marie Curie"
    )
    assert booked["service"] == "Haircut" and booked["status"] == "booked" and booked["duplicate"] is False
    assert booked["start"].startswith(at(day, "10:00:00")) and booked["end"].startswith(at(day, "10:30:00"))
    assert (
        datetime.fromisoformat(booked["start"]).utcoffset()
        == datetime.fromisoformat(at(day, "10:00")).replace(tzinfo=PARIS).utcoffset()
    )
    assert booked["name"] == "Marie Curie" and booked["price"] == 25
    mine = await call(ctx, "list_my_appointments")
    assert mine["timezone"] == "Europe/Paris"
    assert [a["appointment_id"] for a in mine["appointments"]] == [booked["appointment_id"]]
    async with runtime.db.read() as conn:
        row = (await conn.execute(sa.select(calendar_appointments))).one()
        seats = (await conn.execute(sa.select(sa.func.count()).select_from(calendar_slots))).scalar()
    assert row.conversation_id == ctx.conversation_id and row.sync_status is None
    assert seats == 6  # six 5-minute cells


async def test_same_booking_again_within_five_minutes_is_the_same_booking(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, max_concurrent=3)
    contact = await make_contact(runtime, tenant)
    day = next_weekday(MONDAY)
    now = utcnow()
    args = {"service": "Haircut", "start": at(day, "10:00"), "name": "Ann"}
    first = await call(tool_context(runtime, tenant, contact, now), "book_appointment", **args)
    again = await call(
        tool_context(runtime, tenant, contact, now + timedelta(minutes=4)), "book_appointment", **args
    )
    assert again["appointment_id"] == first["appointment_id"] and again["duplicate"] is True
    # Later than five minutes it is a second booking (someone booking for two people).
    later = await call(
        tool_context(runtime, tenant, contact, now + timedelta(minutes=6)), "book_appointment", **args
    )
    assert later["appointment_id"] != first["appointment_id"] and later["duplicate"] is False
    # Another service, or another contact, is never a duplicate.
    other = await call(
        tool_context(runtime, tenant, contact, now), "book_appointment", **{**args, "service": "Colour"}
    )
    assert other["duplicate"] is False
    ctx_b = tool_context(runtime, tenant, await make_contact(runtime, tenant), now)
    with pytest.raises(ToolError, match="fully booked"):
        await call(ctx_b, "book_appointment", **args)


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ("08:30", "outside our opening hours on Monday (09:00-12:00, 13:00-17:00)"),
        ("12:30", "outside our opening hours"),
        ("16:45", "would end after closing time (17:00)"),
        ("11:45", "would end after closing time (12:00)"),
        ("10:10", "start every 30 minutes"),
    ],
)
async def test_only_within_business_hours(runtime, when: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime)
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    with pytest.raises(ToolError) as err:
        await call(ctx, "book_appointment", service="Haircut", start=at(next_weekday(MONDAY), when), name="A")
    assert reason in err.value.message


async def test_closed_days_past_times_and_bad_input(runtime) -> None:  # type: ignore[no-untyped-def]
    holiday = next_weekday(1)  # a Tuesday
    tenant = await make_tenant(runtime, closed_dates=[holiday.isoformat()])
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))

    async def refused(start: str, service: str = "Haircut", name: str | None = "A") -> str:
        with pytest.raises(ToolError) as err:
            await call(ctx, "book_appointment", service=service, start=start, name=name)
        return err.value.message

    assert "we are closed on Tuesday" in await refused(at(holiday, "10:00"))
    assert "closed on Sundays" in await refused(at(next_weekday(6), "10:00"))
    yesterday = datetime.now(PARIS).date() - timedelta(days=1)
    assert "already passed" in await refused(at(yesterday, "10:00"))
    assert "the services are: Haircut, Colour" in await refused(at(next_weekday(MONDAY), "10:00"), "Massage")
    assert "date and time" in await refused("next monday")
    assert "'name' is required" in await refused(at(next_weekday(MONDAY), "10:00"), name=None)
    async with runtime.db.read() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(calendar_appointments))
        ).scalar() == 0


async def test_another_contacts_appointment_is_not_found(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime)
    await make_tenant(runtime, "barber")
    alice = tool_context(runtime, tenant, await make_contact(runtime, tenant, "Alice"))
    bob = tool_context(runtime, tenant, await make_contact(runtime, tenant, "Bob"))
    day = next_weekday(MONDAY)
    booked = await call(alice, "book_appointment", service="Haircut", start=at(day, "10:00"), name="Alice")
    appt_id = booked["appointment_id"]
    outsider = tool_context(runtime, "barber", await make_contact(runtime, "barber"))
    for ctx in (bob, outsider):
        with pytest.raises(ToolError, match=r"no appointment .* found"):
            await call(ctx, "cancel_appointment", appointment_id=appt_id)
        with pytest.raises(ToolError, match=r"no appointment .* found"):
            await call(ctx, "reschedule_appointment", appointment_id=appt_id, start=at(day, "14:00"))
        assert (await call(ctx, "list_my_appointments"))["appointments"] == []
    with pytest.raises(ToolError, match=r"no appointment .* found"):
        await call(alice, "cancel_appointment", appointment_id="apt_does_not_exist")
    assert (await call(alice, "list_my_appointments"))["appointments"][0]["status"] == "booked"


async def test_reschedule_moves_and_frees_the_old_time(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime)
    alice = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    bob = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    day = next_weekday(MONDAY)
    booked = await call(alice, "book_appointment", service="Haircut", start=at(day, "10:00"), name="Alice")
    taken = await call(bob, "book_appointment", service="Haircut", start=at(day, "14:00"), name="Bob")
    # Into a full slot: refused with the nearest free times, and the booking stays where it was.
    with pytest.raises(ToolError) as err:
        await call(
            alice, "reschedule_appointment", appointment_id=booked["appointment_id"], start=at(day, "14:00")
        )
    assert "fully booked" in err.value.message and at(day, "13:30") in err.value.message
    moved = await call(
        alice, "reschedule_appointment", appointment_id=booked["appointment_id"], start=at(day, "15:00")
    )
    assert moved["appointment_id"] == booked["appointment_id"] and moved["start"].startswith(at(day, "15:00"))
    assert moved["previous_start"].startswith(at(day, "10:00"))
    # The old time is free again for someone else.
    again = await call(bob, "book_appointment", service="Haircut", start=at(day, "10:00"), name="Bob")
    assert again["appointment_id"] != taken["appointment_id"]
    with pytest.raises(ToolError, match="outside our opening hours"):
        await call(
            alice, "reschedule_appointment", appointment_id=booked["appointment_id"], start=at(day, "18:00")
        )


async def test_cancel_frees_the_time_and_is_idempotent(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime)
    alice = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    bob = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    day = next_weekday(MONDAY)
    booked = await call(alice, "book_appointment", service="Colour", start=at(day, "09:00"), name="Alice")
    with pytest.raises(ToolError, match="fully booked"):  # 10:00 lies inside the 90-minute colour
        await call(bob, "book_appointment", service="Haircut", start=at(day, "10:00"), name="Bob")
    first = await call(alice, "cancel_appointment", appointment_id=booked["appointment_id"])
    second = await call(alice, "cancel_appointment", appointment_id=booked["appointment_id"])
    assert first["status"] == second["status"] == "cancelled"
    assert (await call(alice, "list_my_appointments"))["appointments"] == []
    await call(bob, "book_appointment", service="Haircut", start=at(day, "10:00"), name="Bob")
    with pytest.raises(ToolError, match="cancelled"):
        await call(
            alice, "reschedule_appointment", appointment_id=booked["appointment_id"], start=at(day, "14:00")
        )


async def test_check_availability(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime)
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    day = next_weekday(MONDAY)
    free = await call(ctx, "check_availability", date=day.isoformat(), service="Haircut")
    assert free["total"] == 14 and free["truncated"] is False and free["timezone"] == "Europe/Paris"
    assert free["slots"][0].startswith(at(day, "09:00")) and "services" not in free
    await call(ctx, "book_appointment", service="Haircut", start=at(day, "09:30"), name="A")
    after = await call(ctx, "check_availability", date=day.isoformat(), service="Haircut")
    assert after["total"] == 13 and not any(s.startswith(at(day, "09:30")) for s in after["slots"])
    week = await call(
        ctx, "check_availability", **{"from": day.isoformat(), "to": (day + timedelta(days=6)).isoformat()}
    )
    assert week["truncated"] is True and len(week["slots"]) == 20 and week["total"] > 20
    assert [s["name"] for s in week["services"]] == ["Haircut", "Colour"]
    part = await call(ctx, "check_availability", **{"from": at(day, "13:00"), "to": at(day, "14:00")})
    assert [s[11:16] for s in part["slots"]] == ["13:00", "13:30"]
    sunday = await call(ctx, "check_availability", date=next_weekday(6).isoformat())
    assert sunday["slots"] == [] and "no free times" in sunday["message"]
    with pytest.raises(ToolError, match="at most 31 days"):
        await call(
            ctx,
            "check_availability",
            **{"from": day.isoformat(), "to": (day + timedelta(days=40)).isoformat()},
        )


async def test_resources_and_capacity(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(
        runtime,
        max_concurrent=0,
        resources=[{"name": "Anna"}, {"name": "Ben", "services": ["Haircut"]}],
    )
    day = next_weekday(MONDAY)
    ctxs = [tool_context(runtime, tenant, await make_contact(runtime, tenant)) for _ in range(3)]
    first = await call(ctxs[0], "book_appointment", service="Colour", start=at(day, "09:00"), name="A")
    assert first["with"] == "Anna"  # Ben does not do colour
    with pytest.raises(ToolError, match="fully booked"):
        await call(ctxs[1], "book_appointment", service="Colour", start=at(day, "09:30"), name="B")
    second = await call(ctxs[1], "book_appointment", service="Haircut", start=at(day, "09:30"), name="B")
    assert second["with"] == "Ben"
    with pytest.raises(ToolError, match="fully booked"):
        await call(ctxs[2], "book_appointment", service="Haircut", start=at(day, "09:30"), name="C")
    with pytest.raises(ToolError, match="does not do Colour"):
        await call(
            ctxs[2], "book_appointment", service="Colour", start=at(day, "13:00"), name="C", resource="Ben"
        )
    free = await call(ctxs[2], "check_availability", date=day.isoformat(), service="Haircut", resource="Ben")
    assert not any(s.startswith(at(day, "09:30")) for s in free["slots"]) and free["total"] == 13


async def test_lowering_capacity_later_is_respected(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, max_concurrent=3)
    day = next_weekday(MONDAY)
    ctxs = [tool_context(runtime, tenant, await make_contact(runtime, tenant)) for _ in range(3)]
    for ctx in ctxs[:2]:
        await call(ctx, "book_appointment", service="Haircut", start=at(day, "10:00"), name="A")
    await set_calendar(runtime, tenant, max_concurrent=2)
    runtime.cache.invalidate()
    with pytest.raises(ToolError, match="fully booked"):
        await call(ctxs[2], "book_appointment", service="Haircut", start=at(day, "10:00"), name="C")


async def test_no_calendar_configured(runtime) -> None:  # type: ignore[no-untyped-def]
    ctx = tool_context(runtime, "default", await make_contact(runtime, "default"))
    with pytest.raises(ToolError, match=r"booking is not available .*no calendar set up"):
        await call(ctx, "check_availability")
