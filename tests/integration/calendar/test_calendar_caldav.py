"""CalDAV sync against a real server (Radicale on 127.0.0.1, htpasswd auth, storage in tmp)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import httpx
import icalendar
import pytest
import sqlalchemy as sa

from frontdesk.agents.tools import ToolError
from frontdesk.calendar import BookingRefused, SyncFailed, TenantCalendar
from frontdesk.store.calendar_tables import calendar_appointments
from frontdesk.store.db import utcnow
from tests.helpers import wait_for
from tests.integration.calendar.support import (
    TZ,
    at,
    call,
    instant,
    make_contact,
    make_tenant,
    next_weekday,
    set_calendar,
    tool_context,
)

USER, PASSWORD = "shop", "s3cret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("radicale")
    (root / "users").write_text(f"{USER}:{PASSWORD}\n")
    port = _free_port()
    args = [
        sys.executable,
        "-m",
        "radicale",
        "--server-hosts",
        f"127.0.0.1:{port}",
        "--storage-filesystem-folder",
        str(root / "collections"),
        "--auth-type",
        "htpasswd",
        "--auth-htpasswd-filename",
        str(root / "users"),
        "--auth-htpasswd-encryption",
        "plain",
        "--rights-type",
        "owner_only",
        "--logging-level",
        "error",
        "--auth-delay",  # Radicale slows every 401 down, and clients meet one per session
        "0",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Radicale did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:set><d:prop><d:displayname>Shop</d:displayname></d:prop></d:set></c:mkcalendar>"""
ALL_EVENTS = """<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><c:calendar-data/></d:prop>
<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter>
</c:calendar-query>"""


def _client() -> httpx.AsyncClient:
    # The test's own view of the server, apart from Frontdesk's client.
    return httpx.AsyncClient(auth=(USER, PASSWORD), timeout=10)


@pytest.fixture
async def calendar_url(radicale: str) -> str:
    """A fresh calendar collection for each test."""
    url = f"{radicale}/{USER}/{uuid.uuid4().hex}/"
    async with _client() as client:
        made = await client.request("MKCALENDAR", url, content=MKCALENDAR.encode())
    assert made.status_code == 201, made.text
    return url


async def _events(url: str) -> dict[str, object]:
    async with _client() as client:
        answer = await client.request("REPORT", url, content=ALL_EVENTS.encode(), headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    found = {}
    for data in ElementTree.fromstring(answer.content).iterfind(
        ".//{urn:ietf:params:xml:ns:caldav}calendar-data"
    ):
        for event in icalendar.Calendar.from_ical(data.text).walk("VEVENT"):
            found[str(event["uid"])] = event
    return found


async def _put_event(url: str, uid: str, start: datetime, end: datetime, *, weekly: bool = False) -> None:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//calendar app//EN")
    cal.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", start)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", "Blocked")
    if weekly:
        event.add("rrule", {"freq": "weekly", "count": 4})
    cal.add_component(event)
    async with _client() as client:
        put = await client.put(
            f"{url}{uid}.ics", content=cal.to_ical(), headers={"Content-Type": "text/calendar"}
        )
    assert put.status_code in (201, 204), put.text


def _caldav(url: str, password: str = PASSWORD, **more: str) -> dict:
    return {"url": url, "username": USER, "password": password, **more}


async def _row(runtime, appointment_id: str):  # type: ignore[no-untyped-def]
    async with runtime.db.read() as conn:
        stmt = sa.select(calendar_appointments).where(
            calendar_appointments.c.appointment_id == appointment_id
        )
        return (await conn.execute(stmt)).one()


async def test_bookings_are_written_moved_and_removed(runtime, calendar_url: str) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, caldav=_caldav(calendar_url, auth_type="basic"))
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    day = next_weekday(0)
    booked = await call(
        ctx, "book_appointment", service="Haircut", start=at(day, "10:00"), name="Marie Curie"
    )
    appt_id = booked["appointment_id"]
    assert (await _row(runtime, appt_id)).sync_status == "pending"

    assert await runtime.calendar_sync.push_due() == 1
    row = await _row(runtime, appt_id)
    assert (row.sync_status, row.sync_error, row.sync_attempts) == ("synced", None, 1)
    assert row.external_id.startswith(calendar_url)
    event = (await _events(calendar_url))[f"{appt_id}@frontdesk"]
    assert event.decoded("dtstart") == instant(day, "10:00")
    assert str(event["summary"]) == "Haircut - Marie Curie"

    await call(ctx, "reschedule_appointment", appointment_id=appt_id, start=at(day, "14:00"))
    assert await runtime.calendar_sync.push_due() == 1
    events = await _events(calendar_url)
    assert len(events) == 1 and events[f"{appt_id}@frontdesk"].decoded("dtstart") == instant(day, "14:00")

    await call(ctx, "cancel_appointment", appointment_id=appt_id)
    assert (await _row(runtime, appt_id)).sync_status == "pending"
    assert await runtime.calendar_sync.push_due() == 1
    assert await _events(calendar_url) == {}
    assert (await _row(runtime, appt_id)).sync_status == "synced"
    assert await runtime.calendar_sync.push_due() == 0  # nothing left to do


async def test_busy_times_in_the_calendar_are_unavailable(runtime, calendar_url: str) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, caldav=_caldav(calendar_url), max_concurrent=2)
    day = next_weekday(0)
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    ours = await call(ctx, "book_appointment", service="Haircut", start=at(day, "15:00"), name="A")
    await runtime.calendar_sync.push_due()
    # The business blocks 10:00-11:00 directly in its calendar app.
    await _put_event(calendar_url, "dentist-1", instant(day, "10:00"), instant(day, "11:00"))
    # And every week 13:00-14:00, since the week before: the server expands the recurrence.
    week = timedelta(days=7)
    await _put_event(
        calendar_url, "lunch-1", instant(day, "13:00") - week, instant(day, "14:00") - week, weekly=True
    )
    # The dentist and each lunch in the busy window; our own event is not "busy".
    assert await runtime.calendar_sync.refresh_busy(tenant) >= 2
    free = await call(ctx, "check_availability", date=day.isoformat(), service="Haircut")
    times = [s[11:16] for s in free["slots"]]
    assert "10:00" not in times and "10:30" not in times and "09:30" in times and "11:00" in times
    assert "13:00" not in times and "12:30" not in times and "14:00" in times
    assert "15:00" in times  # still one of two places left next to our own booking
    cal = TenantCalendar.of(runtime.db, tenant, (await runtime.cache.tenant(tenant)).settings, TZ)
    # A haircut at 10:30, and a colour from 09:00 that would run into the dentist.
    for service, start in [("Haircut", "10:30"), ("Colour", "09:00")]:
        with pytest.raises(BookingRefused) as refused:
            await cal.book(ctx.contact_id, cal.cfg.service(service), instant(day, start), "B", utcnow())
        assert refused.value.message == "that time is not available"
    # The booking tool gives the model the refusal and the nearest free times.
    with pytest.raises(ToolError) as told:
        await call(ctx, "book_appointment", service="Haircut", start=at(day, "10:30"), name="B")
    assert told.value.message.startswith("that time is not available; the nearest free times are ")
    assert ours["duplicate"] is False


async def test_failures_are_kept_shown_and_retried(client, runtime, calendar_url: str) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, caldav=_caldav(calendar_url, password="wrong"))
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    day = next_weekday(0)
    booked = await call(ctx, "book_appointment", service="Haircut", start=at(day, "10:00"), name="A")
    assert await runtime.calendar_sync.push_due() == 0
    row = await _row(runtime, booked["appointment_id"])
    assert row.status == "booked" and row.sync_status == "failed" and row.sync_attempts == 1
    assert "CalDAV saving the event failed" in row.sync_error
    with pytest.raises(SyncFailed):
        await runtime.calendar_sync.refresh_busy(tenant)

    status = (await client.get(f"/api/v1/tenants/{tenant}/calendar")).json()
    assert status["sync"]["backend"] == "caldav" and status["sync"]["failed"] == 1
    assert status["sync"]["last_error"]["appointment_id"] == booked["appointment_id"]
    assert "CalDAV" in status["sync"]["busy"]["error"]
    listed = (await client.get("/api/v1/appointments", params={"sync_status": "failed"})).json()["items"]
    assert [i["appointment_id"] for i in listed] == [booked["appointment_id"]]

    await set_calendar(runtime, tenant, caldav=_caldav(calendar_url))  # the password is fixed
    retried = (await client.post(f"/api/v1/tenants/{tenant}/calendar/sync")).json()
    assert retried["retried"] == 1
    assert await runtime.calendar_sync.push_due() == 1
    row = await _row(runtime, booked["appointment_id"])
    assert (row.sync_status, row.sync_error, row.sync_attempts) == ("synced", None, 2)
    assert f"{booked['appointment_id']}@frontdesk" in await _events(calendar_url)


async def test_the_background_loop_pushes_soon_after_booking(runtime, calendar_url: str) -> None:  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, caldav=_caldav(calendar_url))
    ctx = tool_context(runtime, tenant, await make_contact(runtime, tenant))
    await runtime.calendar_sync.start()
    booked = await call(
        ctx, "book_appointment", service="Haircut", start=at(next_weekday(0), "11:00"), name="A"
    )

    async def synced() -> bool:
        return (await _row(runtime, booked["appointment_id"])).sync_status == "synced"

    await wait_for(synced, timeout=10)
    assert f"{booked['appointment_id']}@frontdesk" in await _events(calendar_url)
