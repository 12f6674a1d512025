"""Google Calendar sync over real HTTP against a fake Google (REST v3 + OAuth token endpoint)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from frontdesk.calendar.google_sync import PRIVATE_KEY, event_id
from frontdesk.store.calendar_tables import calendar_appointments
from tests.fakes.server import run_app
from tests.integration.calendar.fake_google import FakeGoogle
from tests.integration.calendar.support import (
    at,
    call,
    instant,
    make_contact,
    make_tenant,
    next_weekday,
    tool_context,
)

CALENDAR_ID = "shop@group.calendar.google.com"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle()
    with run_app(fake.app) as url:
        fake.base_url = url
        yield fake


def _google(fake: FakeGoogle, **auth: object) -> dict:
    return {
        "calendar_id": CALENDAR_ID,
        "base_url": fake.base_url,
        **(auth or {"service_account": fake.service_account()}),
    }


async def _row(runtime, appointment_id: str):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as conn:
        stmt = sa.select(calendar_appointments).where(
            calendar_appointments.c.appointment_id == appointment_id
        )
        return (await conn.execute(stmt)).one()


async def test_service_account_writes_moves_and_deletes(runtime, google: FakeGoogle) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, google=_google(google))
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    day = next_weekday(0)
    booked = await call(
        ctx, "book_appointment", service="Haircut", start=at(day, "10:00"), name="Marie Curie"
    )
    appt_id = booked["appointment_id"]
    assert await runtime.calendar_sync.push_due() == 1
    gid = event_id(appt_id)
    event = google.events[CALENDAR_ID][gid]
    assert (
        event["summary"] == "Haircut - Marie Curie"
        and event["extendedProperties"]["private"][PRIVATE_KEY] == appt_id
    )
    assert event["start"]["dateTime"] == instant(day, "10:00").isoformat().replace("+00:00", "Z")
    row = await _row(runtime, appt_id)
    assert (row.sync_status, row.external_id) == ("synced", gid)

    await call(ctx, "reschedule_appointment", appointment_id=appt_id, start=at(day, "15:00"))
    assert await runtime.calendar_sync.push_due() == 1
    assert len(google.events[CALENDAR_ID]) == 1
    assert google.events[CALENDAR_ID][gid]["start"]["dateTime"].startswith(
        instant(day, "15:00").strftime("%Y-%m-%dT%H:%M")
    )

    await call(ctx, "cancel_appointment", appointment_id=appt_id)
    assert await runtime.calendar_sync.push_due() == 1
    assert google.events[CALENDAR_ID][gid]["status"] == "cancelled"
    assert [r["grant_type"] for r in google.token_requests] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert google.calls == [
        f"POST /calendars/{CALENDAR_ID}/events",
        f"PUT /calendars/{CALENDAR_ID}/events/{gid}",
        f"DELETE /calendars/{CALENDAR_ID}/events/{gid}",
    ]


async def test_failures_are_retried_with_backoff_and_never_lose_the_booking(
    runtime, google: FakeGoogle
) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, google=_google(google))
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    booked = await call(
        ctx, "book_appointment", service="Haircut", start=at(next_weekday(0), "10:00"), name="A"
    )
    google.fail_next = 2
    assert await runtime.calendar_sync.push_due() == 0
    row = await _row(runtime, booked["appointment_id"])
    assert (row.status, row.sync_status, row.sync_attempts) == ("booked", "failed", 1)
    # The status only: the body of a remote answer never reaches what tenants read.
    assert row.sync_error.endswith("HTTP 503") and "Backend Error" not in row.sync_error
    assert row.sync_next_at is not None  # when the next attempt is due (backoff)
    for attempts in (2, 3):
        await asyncio.sleep(runtime.settings.retry_max_seconds + 0.05)
        await runtime.calendar_sync.push_due()
        assert (await _row(runtime, booked["appointment_id"])).sync_attempts == attempts
    row = await _row(runtime, booked["appointment_id"])
    assert (row.sync_status, row.sync_error) == ("synced", None)
    assert list(google.events[CALENDAR_ID]) == [event_id(booked["appointment_id"])]


async def test_an_answer_lost_earlier_does_not_make_a_second_event(runtime, google: FakeGoogle) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, google=_google(google))
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    booked = await call(
        ctx, "book_appointment", service="Haircut", start=at(next_weekday(0), "10:00"), name="A"
    )
    gid = event_id(booked["appointment_id"])
    # The first attempt reached Google, but its answer never came back.
    google.events[CALENDAR_ID] = {gid: {"id": gid, "status": "confirmed", "summary": "stale"}}
    assert await runtime.calendar_sync.push_due() == 1
    assert (
        list(google.events[CALENDAR_ID]) == [gid]
        and google.events[CALENDAR_ID][gid]["summary"] == "Haircut - A"
    )


async def test_busy_times_skip_our_own_and_free_events(runtime, google: FakeGoogle) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, google=_google(google), max_concurrent=2)
    day, tuesday = next_weekday(0), next_weekday(1)

    def event(eid: str, start: str, end: str, **more: object) -> dict:
        z = lambda t: instant(day, t).isoformat()  # noqa: E731
        return {
            "id": eid,
            "status": "confirmed",
            "start": {"dateTime": z(start)},
            "end": {"dateTime": z(end)},
            **more,
        }

    google.events[CALENDAR_ID] = {
        "meeting": event("meeting", "10:00", "11:00"),
        "free": event("free", "13:00", "14:00", transparency="transparent"),
        "ours": event("ours", "14:00", "15:00", extendedProperties={"private": {PRIVATE_KEY: "apt_x"}}),
        "gone": event("gone", "15:00", "16:00", status="cancelled"),
        "holiday": {
            "id": "holiday",
            "status": "confirmed",
            "start": {"date": tuesday.isoformat()},
            "end": {"date": next_weekday(2).isoformat()},
        },
    }
    assert await runtime.calendar_sync.refresh_busy(tenant) == 2  # over three pages of two
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    monday = [
        s[11:16]
        for s in (await call(ctx, "check_availability", date=day.isoformat(), service="Haircut"))["slots"]
    ]
    assert "10:00" not in monday and "10:30" not in monday and {"13:00", "14:00", "15:00"} <= set(monday)
    assert (await call(ctx, "check_availability", date=tuesday.isoformat()))["slots"] == []
    status = await runtime.db.run_read(
        lambda c: c.execute(sa.text("SELECT busy_error FROM calendar_state")).all()
    )
    assert status == [(None,)]


async def test_refresh_token_static_token_and_expiry(runtime, google: FakeGoogle) -> None:  # type: ignore[no-untyped-def]
    oauth = {"refresh_token": "refresh-1", "client_id": "client-1", "client_secret": "client-secret"}
    tenant = await make_tenant(
        runtime, google={**_google(google, **oauth), "token_url": f"{google.base_url}/token"}
    )
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    day = next_weekday(0)
    first = await call(ctx, "book_appointment", service="Haircut", start=at(day, "10:00"), name="A")
    assert await runtime.calendar_sync.push_due() == 1
    assert [r["grant_type"] for r in google.token_requests] == ["refresh_token"]
    # The token is revoked: the next write fails once, then a new token is fetched.
    google.revoke_tokens()
    second = await call(ctx, "book_appointment", service="Haircut", start=at(day, "11:00"), name="A")
    assert await runtime.calendar_sync.push_due() == 0
    assert "HTTP 401" in (await _row(runtime, second["appointment_id"])).sync_error
    await asyncio.sleep(runtime.settings.retry_max_seconds + 0.05)
    assert await runtime.calendar_sync.push_due() == 1
    assert (
        len(google.token_requests) == 2
        and (await _row(runtime, first["appointment_id"])).sync_status == "synced"
    )

    static = await make_tenant(runtime, "static", google=_google(google, access_token="static-token"))
    ctx = tool_context(runtime, static, await make_contact(runtime, static))
    await call(ctx, "book_appointment", service="Haircut", start=at(day, "10:00"), name="B")
    assert await runtime.calendar_sync.push_due() == 1 and len(google.token_requests) == 2
