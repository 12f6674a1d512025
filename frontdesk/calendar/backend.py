"""The contract of a connected calendar (CalDAV, Google): write an event, remove it, read busy times.

Every method raises ``SyncFailed`` when the calendar could not do it; the sync loop records the
message on the appointment and tries again later. ``put`` and ``remove`` must be idempotent: a
retry after a lost response must not create a second event.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from frontdesk.calendar.ics import CalendarEvent

Interval = tuple[datetime, datetime]


class CalendarBackend(ABC):
    name: ClassVar[str]

    @abstractmethod
    async def put(self, event: CalendarEvent, external_id: str | None, sequence: int) -> str:
        """Create or update the event; return its id there (kept as ``external_id``)."""
        raise NotImplementedError

    @abstractmethod
    async def remove(self, event: CalendarEvent, external_id: str | None) -> None:
        """Delete the event; one that is already gone is fine."""
        raise NotImplementedError

    @abstractmethod
    async def busy(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[Interval]:
        """Busy spans between ``start`` and ``end`` from events that are not ours."""
        raise NotImplementedError
