"""A CalDAV calendar (Nextcloud, iCloud, Fastmail, Radicale, …) through the ``caldav`` library.

An appointment is one event resource named after its UID, so writing it again replaces it: a
retried PUT cannot duplicate it. Busy times are a time-range query with recurrences expanded.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from caldav import aio

from frontdesk.calendar.backend import CalendarBackend, Interval
from frontdesk.calendar.connections import CalDavConfig
from frontdesk.calendar.errors import SyncFailed
from frontdesk.calendar.ics import CalendarEvent, busy_intervals, event_document
from frontdesk.store.db import utcnow

TIMEOUT_SECONDS = 15


class CalDavBackend(CalendarBackend):
    name = "caldav"

    def __init__(self, cfg: CalDavConfig) -> None:
        self.cfg = cfg

    @contextlib.asynccontextmanager
    async def _calendar(self, doing: str) -> AsyncIterator[aio.Calendar]:
        try:
            async with aio.AsyncDAVClient(
                url=self.cfg.url,
                username=self.cfg.username or None,
                password=self.cfg.password or None,
                auth_type=self.cfg.auth_type or None,
                timeout=TIMEOUT_SECONDS,
                enable_rfc6764=False,  # a configured URL is used as is: no DNS discovery
            ) as client:
                if self.cfg.calendar:
                    principal = await client.get_principal()
                    calendar = await principal.calendar(name=self.cfg.calendar)
                else:
                    calendar = aio.Calendar(client=client, url=self.cfg.url)
                yield calendar
        except SyncFailed:
            raise
        except Exception as exc:
            raise SyncFailed(f"CalDAV {doing} failed: {type(exc).__name__}: {exc}") from exc

    async def put(self, event: CalendarEvent, external_id: str | None, sequence: int) -> str:
        async with self._calendar("saving the event") as calendar:
            saved = await calendar.add_event(event_document(event, utcnow(), sequence), increase_seqno=False)
            return str(saved.url)

    async def remove(self, event: CalendarEvent, external_id: str | None) -> None:
        async with self._calendar("deleting the event") as calendar:
            url = external_id or str(calendar.url.join(quote(event.uid) + ".ics"))
            await aio.Event(client=calendar.client, url=url).delete()  # a 404 counts as deleted

    async def busy(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[Interval]:
        async with self._calendar("reading busy times") as calendar:
            found = await calendar.search(start=start, end=end, event=True, expand=True)
            components = [c for r in found for c in r.icalendar_instance.walk("VEVENT")]
            spans = busy_intervals(components, tz)
        return [(a, b) for a, b in spans if a < end and b > start]
