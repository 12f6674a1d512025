"""iCalendar: the feed and the CalDAV event we write, and the busy times we read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from frontdesk.calendar.appointment import Appointment
from frontdesk.calendar.ics import CalendarEvent, busy_intervals, event_document, feed

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def appt(n: int = 1, **changes) -> Appointment:  # type: ignore[no-untyped-def]
    values = dict(
        appointment_id=f"apt_{n}",
        tenant_id="salon",
        contact_id="ct_1",
        conversation_id=None,
        service="Haircut",
        resource="Anna",
        customer_name="Marie Curie",
        notes="short, please",
        start=START + timedelta(hours=n),
        end=START + timedelta(hours=n, minutes=30),
        status="booked",
        revision=2,
        sync_status=None,
        sync_error=None,
        sync_attempts=0,
        external_id=None,
        created_at=START,
        updated_at=START,
    )
    values.update(changes)
    return Appointment(**values)  # type: ignore[arg-type]


def test_feed_lists_the_bookings_in_utc() -> None:
    body = feed("Salon", PARIS, [appt(1), appt(2)], START)
    cal = icalendar.Calendar.from_ical(body)
    assert str(cal["x-wr-calname"]) == "Salon" and str(cal["x-wr-timezone"]) == "Europe/Paris"
    events = cal.walk("VEVENT")
    assert [str(e["uid"]) for e in events] == ["apt_1@frontdesk", "apt_2@frontdesk"]
    first = events[0]
    assert first.decoded("dtstart") == START + timedelta(hours=1)
    assert first.decoded("dtend") == START + timedelta(hours=1, minutes=30)
    assert str(first["summary"]) == "Haircut - Marie Curie"
    assert "With: Anna" in str(first["description"]) and "Notes: short, please" in str(first["description"])
    assert int(first["sequence"]) == 2


def test_event_document_is_one_event() -> None:
    text = event_document(CalendarEvent.of(appt()), START, 3)
    cal = icalendar.Calendar.from_ical(text)
    assert len(cal.walk("VEVENT")) == 1 and "SEQUENCE:3" in text


def _event(uid: str, start, end=None, **props) -> icalendar.Event:  # type: ignore[no-untyped-def]
    ev = icalendar.Event()
    ev.add("uid", uid)
    ev.add("dtstart", start)
    if end is not None:
        ev.add("dtend", end)
    for key, value in props.items():
        ev.add(key, value)
    return ev


def test_busy_times_skip_our_own_free_and_cancelled_events() -> None:
    day = datetime(2030, 3, 4).date()
    events = [
        _event("lunch", START, START + timedelta(hours=1)),
        _event("apt_9@frontdesk", START, START + timedelta(hours=1)),
        _event("free", START, START + timedelta(hours=1), transp="TRANSPARENT"),
        _event("gone", START, START + timedelta(hours=1), status="CANCELLED"),
        _event("holiday", day),  # all day, no end: that local day
        _event("floating", datetime(2030, 3, 4, 15, 0), duration=timedelta(minutes=45)),
    ]
    spans = busy_intervals(events, PARIS)
    assert spans[0] == (START, START + timedelta(hours=1))
    midnight = datetime(2030, 3, 3, 23, 0, tzinfo=UTC)  # 00:00 in Paris (+01:00)
    assert spans[1] == (midnight, midnight + timedelta(days=1))
    assert spans[2] == (datetime(2030, 3, 4, 14, 0, tzinfo=UTC), datetime(2030, 3, 4, 14, 45, tzinfo=UTC))
    assert len(spans) == 3
