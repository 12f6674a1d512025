"""iCalendar text: the per-tenant ICS feed, the event written to CalDAV, busy times read back.

Every event we write carries ``UID:<appointment id>@frontdesk``; reading a calendar back skips
those, so our own bookings never count twice as "busy".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from frontdesk.calendar.appointment import Appointment

PRODID = "-//Frontdesk//Calendar//EN"
OUR_UID_SUFFIX = "@frontdesk"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """What a connected calendar gets for one appointment."""

    appointment_id: str
    uid: str
    summary: str
    description: str
    start: datetime  # UTC
    end: datetime

    @classmethod
    def of(cls, appt: Appointment) -> CalendarEvent:
        lines = [f"Service: {appt.service}", f"Name: {appt.customer_name}"]
        if appt.resource:
            lines.append(f"With: {appt.resource}")
        if appt.notes:
            lines.append(f"Notes: {appt.notes}")
        lines.append(f"Booked through Frontdesk ({appt.appointment_id})")
        summary = f"{appt.service} - {appt.customer_name}" if appt.customer_name else appt.service
        return cls(appt.appointment_id, appt.uid, summary, "\n".join(lines), appt.start, appt.end)


def vevent(event: CalendarEvent, stamp: datetime, sequence: int = 0) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", event.uid)
    ev.add("dtstamp", stamp.astimezone(UTC))
    ev.add("dtstart", event.start.astimezone(UTC))
    ev.add("dtend", event.end.astimezone(UTC))
    ev.add("summary", event.summary)
    ev.add("description", event.description)
    ev.add("status", "CONFIRMED")
    ev.add("sequence", sequence)
    return ev


def _calendar(name: str | None = None) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if name:
        cal.add("x-wr-calname", name)
    return cal


def event_document(event: CalendarEvent, stamp: datetime, sequence: int = 0) -> str:
    """One VCALENDAR holding one VEVENT: the body of a CalDAV PUT."""
    cal = _calendar()
    cal.add_component(vevent(event, stamp, sequence))
    return cal.to_ical().decode()


def feed(name: str, tz: ZoneInfo, appointments: Iterable[Appointment], stamp: datetime) -> bytes:
    """The ICS feed of a tenant's bookings (a calendar app subscribes to it by URL)."""
    cal = _calendar(name)
    cal.add("x-wr-timezone", tz.key)
    cal.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    for appt in appointments:
        cal.add_component(vevent(CalendarEvent.of(appt), stamp, appt.revision))
    return cal.to_ical()


def _instant(value: Any, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        # A floating time (no zone) is the business's own wall time.
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=tz).astimezone(UTC)
    raise ValueError(f"not a date or date-time: {value!r}")


def busy_intervals(components: Iterable[Any], tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Busy spans of VEVENTs that are not ours, not cancelled and not marked free (TRANSP)."""
    out = []
    for comp in components:
        if str(comp.get("uid", "")).endswith(OUR_UID_SUFFIX):
            continue
        if str(comp.get("status", "")).upper() == "CANCELLED":
            continue
        if str(comp.get("transp", "")).upper() == "TRANSPARENT":
            continue
        if comp.get("dtstart") is None:
            continue
        raw_start = comp.decoded("dtstart")
        start = _instant(raw_start, tz)
        if comp.get("dtend") is not None:
            end = _instant(comp.decoded("dtend"), tz)
        elif comp.get("duration") is not None:
            end = start + comp.decoded("duration")
        else:  # RFC 5545: a whole day for a date, an instant for a date-time
            end = start + (timedelta(days=1) if not isinstance(raw_start, datetime) else timedelta(0))
        if end > start:
            out.append((start, end))
    return out
