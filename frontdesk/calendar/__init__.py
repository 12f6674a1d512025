"""Appointments on a built-in calendar per tenant, optionally kept in step with CalDAV or Google.

config.py        settings.calendar: services, resources, hours, closed dates, slots, capacity
slots.py         availability without I/O, in the tenant's time zone
(store.calendar_tables: appointments, seat occupancy, busy times, per-tenant state)
store.py         book / reschedule / cancel, capacity enforced by the database
queries.py       reads
service.py       TenantCalendar: the rules applied (tools and API call this)
sync.py          the background push / busy-time loop; backends.py picks caldav_sync.py or google_sync.py
feed.py, ics.py  the tenant's ICS feed
"""

from frontdesk.calendar.appointment import Appointment
from frontdesk.calendar.config import CalendarConfig, load
from frontdesk.calendar.service import TenantCalendar
from frontdesk.calendar.sync import CalendarSync
from frontdesk.errors import BookingRefused, FullyBooked, SyncFailed

__all__ = [
    "Appointment",
    "BookingRefused",
    "CalendarConfig",
    "CalendarSync",
    "FullyBooked",
    "SyncFailed",
    "TenantCalendar",
    "load",
]
