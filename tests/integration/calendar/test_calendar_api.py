"""The HTTP side: the appointment list with filters and tenant scope, calendar status, the ICS feed."""

from __future__ import annotations

import httpx
import icalendar

from frontdesk.security.tokens import create_token
from tests.integration.calendar.support import at, call, make_contact, make_tenant, next_weekday, tool_context


async def _bookings(runtime):  # type: ignore[no-untyped-def]
    tenant = await make_tenant(runtime, max_concurrent=2)
    await make_tenant(runtime, "barber")
    alice = tool_context(runtime, tenant, await make_contact(runtime, tenant, "Alice"))
    bob = tool_context(runtime, tenant, await make_contact(runtime, tenant, "Bob"))
    monday, tuesday = next_weekday(0), next_weekday(1)
    a1 = await call(alice, "book_appointment", service="Haircut", start=at(monday, "10:00"), name="Alice")
    a2 = await call(alice, "book_appointment", service="Colour", start=at(tuesday, "14:00"), name="Alice")
    b1 = await call(bob, "book_appointment", service="Haircut", start=at(monday, "10:00"), name="Bob")
    await call(alice, "cancel_appointment", appointment_id=a2["appointment_id"])
    return {"alice": alice, "bob": bob, "a1": a1, "a2": a2, "b1": b1, "monday": monday, "tuesday": tuesday}


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["appointment_id"] for i in r.json()["items"]]


async def test_list_filters(client, runtime) -> None:  # type: ignore[no-untyped-def]
    b = await _bookings(runtime)
    url = "/api/v1/appointments"
    everything = await client.get(url, params={"tenant_id": "salon"})
    assert everything.json()["total"] == 3
    item = next(i for i in everything.json()["items"] if i["appointment_id"] == b["a1"]["appointment_id"])
    assert item["start"] == b["a1"]["start"] and item["timezone"] == "Europe/Paris"
    assert item["contact_name"] == "Alice" and item["name"] == "Alice" and item["service"] == "Haircut"
    assert item["sync"] == {"status": None, "error": None, "attempts": 0, "external_id": None}
    monday = b["monday"].isoformat()
    on_monday = await client.get(url, params={"tenant_id": "salon", "from": monday, "to": monday})
    assert sorted(_ids(on_monday)) == sorted([b["a1"]["appointment_id"], b["b1"]["appointment_id"]])
    later = await client.get(url, params={"tenant_id": "salon", "from": at(b["monday"], "10:30")})
    assert _ids(later) == [b["a2"]["appointment_id"]]
    alice = await client.get(url, params={"contact_id": b["alice"].contact_id})
    assert len(_ids(alice)) == 2
    cancelled = await client.get(url, params={"tenant_id": "salon", "status": "cancelled"})
    assert _ids(cancelled) == [b["a2"]["appointment_id"]]
    paged = await client.get(url, params={"tenant_id": "salon", "limit": 1, "skip": 1})
    assert len(_ids(paged)) == 1 and paged.json()["total"] == 3
    assert (await client.get(url, params={"status": "lost"})).status_code == 422
    assert (await client.get(url, params={"from": "last week"})).status_code == 400


async def test_tenant_tokens_see_only_their_own(client, runtime) -> None:  # type: ignore[no-untyped-def]
    b = await _bookings(runtime)
    async with runtime.db.write() as conn:
        _, salon = await create_token(conn, "salon", "salon")
        _, barber = await create_token(conn, "barber", "barber")
    as_salon = {"Authorization": f"Bearer {salon}"}
    as_barber = {"Authorization": f"Bearer {barber}"}
    assert len(_ids(await client.get("/api/v1/appointments", headers=as_salon))) == 3
    assert _ids(await client.get("/api/v1/appointments", headers=as_barber)) == []
    r = await client.get("/api/v1/appointments", params={"tenant_id": "salon"}, headers=as_barber)
    assert r.status_code == 404
    one = f"/api/v1/appointments/{b['a1']['appointment_id']}"
    assert (await client.get(one, headers=as_salon)).status_code == 200
    assert (await client.get(one, headers=as_barber)).status_code == 404
    for path in ("/api/v1/tenants/salon/calendar", "/api/v1/tenants/nope/calendar"):
        assert (await client.get(path, headers=as_barber)).status_code == 404
    assert (
        await client.post("/api/v1/tenants/salon/calendar/feed-token", headers=as_barber)
    ).status_code == 404
    assert (await client.get("/api/v1/appointments")).status_code == 200  # the admin sees all tenants
    assert (
        await client.get("/api/v1/appointments", headers={"Authorization": "Bearer nope"})
    ).status_code == 401


async def test_calendar_status_and_feed(client, runtime) -> None:  # type: ignore[no-untyped-def]
    b = await _bookings(runtime)
    status = (await client.get("/api/v1/tenants/salon/calendar")).json()
    assert status["configured"] is True and status["config_error"] is None
    assert status["sync"]["backend"] is None and status["sync"]["failed"] == 0
    feed_url = status["feed_url"]
    assert feed_url.startswith("http://frontdesk.test/api/v1/tenants/salon/calendar.ics?token=")
    assert (await client.get("/api/v1/tenants/salon/calendar")).json()["feed_url"] == feed_url  # stable

    r = await client.get(feed_url, headers={"Authorization": ""})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(r.content)
    uids = sorted(str(e["uid"]) for e in cal.walk("VEVENT"))
    assert uids == sorted(
        f"{b[k]['appointment_id']}@frontdesk" for k in ("a1", "b1")
    )  # not the cancelled one
    assert str(cal["x-wr-calname"]) == "Salon"

    base = "/api/v1/tenants/salon/calendar.ics"
    assert (await client.get(base, params={"token": "wrong"})).status_code == 404
    assert (await client.get(base)).status_code == 404
    token = feed_url.split("token=")[1]
    assert (
        await client.get("/api/v1/tenants/barber/calendar.ics", params={"token": token})
    ).status_code == 404

    rotated = (await client.post("/api/v1/tenants/salon/calendar/feed-token")).json()["feed_url"]
    assert rotated != feed_url
    assert (await client.get(feed_url)).status_code == 404
    assert (await client.get(rotated)).status_code == 200


async def test_status_of_a_tenant_without_or_with_a_broken_calendar(client, runtime) -> None:  # type: ignore[no-untyped-def]
    status = (await client.get("/api/v1/tenants/default/calendar")).json()
    assert status["configured"] is False and status["sync"]["pending"] == 0
    await make_tenant(runtime, "broken", slot_minutes=7)
    broken = (await client.get("/api/v1/tenants/broken/calendar")).json()
    assert broken["configured"] is True and "multiple of 5" in broken["config_error"]
