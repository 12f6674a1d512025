"""Availability, without I/O: opening windows, the grid of start times, and what is still free.

All arithmetic happens on aware UTC datetimes; the tenant's time zone only turns local wall times
(opening hours, a customer's "Tuesday 10:00") into instants, so clock changes are handled by
``zoneinfo``. Occupancy is counted in 5-minute cells anchored at the Unix epoch: a cell is the
unit the database locks (``calendar_slots``), and it does not move when ``slot_minutes`` changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.calendar.config import CELL_MINUTES, CalendarConfig, Resource, TimeRange

CELL = timedelta(minutes=CELL_MINUTES)
Interval = tuple[datetime, datetime]


def local_instant(day: date, at: time | None, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``tz`` (None: the midnight ending the day)."""
    if at is None:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def windows(cfg: CalendarConfig, day: date, tz: ZoneInfo) -> list[Interval]:
    return [(local_instant(day, a, tz), local_instant(day, b, tz)) for a, b in cfg.ranges_on(day)]


def grid(cfg: CalendarConfig, day: date, tz: ZoneInfo, duration: timedelta) -> list[datetime]:
    """Every start on ``day`` that the slot grid allows and whose appointment ends by closing."""
    step = timedelta(minutes=cfg.slot_minutes)
    out = []
    for opens, closes in windows(cfg, day, tz):
        start = opens
        while start + duration <= closes:
            out.append(start)
            start += step
    return out


def cells(start: datetime, end: datetime) -> list[datetime]:
    """The 5-minute cells that [start, end) touches."""
    seconds = int(CELL.total_seconds())
    first = datetime.fromtimestamp(int(start.timestamp()) // seconds * seconds, UTC)
    out = []
    while first < end:
        out.append(first)
        first += CELL
    return out


def _fmt_ranges(ranges: tuple[TimeRange, ...]) -> str:
    return ", ".join(f"{a:%H:%M}-{b:%H:%M}" if b else f"{a:%H:%M}-24:00" for a, b in ranges)


def refusal(
    cfg: CalendarConfig, tz: ZoneInfo, start: datetime, duration: timedelta, now: datetime, what: str
) -> str | None:
    """Why ``start`` cannot be booked whatever the occupancy, in words for the customer; None if it can."""
    local = start.astimezone(tz)
    day = local.date()
    if start <= now:
        return "that time has already passed"
    if start < now + timedelta(minutes=cfg.min_notice_minutes):
        return f"appointments need at least {cfg.min_notice_minutes} minutes' notice"
    if day > now.astimezone(tz).date() + timedelta(days=cfg.max_days_ahead):
        return f"appointments can be booked at most {cfg.max_days_ahead} days ahead"
    if day in cfg.closed_dates:
        return f"we are closed on {local:%A %d %B %Y}"
    ranges = cfg.ranges_on(day)
    if not ranges:
        return f"we are closed on {local:%A}s" if day not in cfg.special_hours else f"we are closed on {day}"
    spans = windows(cfg, day, tz)
    inside = [(a, b) for a, b in spans if a <= start < b]
    if not inside:
        return f"that is outside our opening hours on {local:%A} ({_fmt_ranges(ranges)})"
    closes = inside[0][1]
    if start + duration > closes:
        return (
            f"a {int(duration.total_seconds() // 60)}-minute {what} starting at {local:%H:%M} "
            f"would end after closing time ({closes.astimezone(tz):%H:%M})"
        )
    if start not in grid(cfg, day, tz, duration):
        step = cfg.slot_minutes
        return f"appointments start every {step} minutes from opening time ({_fmt_ranges(ranges)})"
    return None


@dataclass(frozen=True, slots=True)
class Occupancy:
    """What is already taken around a range: by bookings, per resource, and by external busy times."""

    taken: Mapping[datetime, int] = field(default_factory=dict)  # cell → overlapping appointments
    by_resource: Mapping[str, frozenset[datetime]] = field(default_factory=dict)  # casefolded name
    blocked: tuple[Interval, ...] = ()

    def is_blocked(self, start: datetime, end: datetime) -> bool:
        return any(a < end and start < b for a, b in self.blocked)

    def free_resources(self, resources: Iterable[Resource], span: list[datetime]) -> list[Resource]:
        return [
            r
            for r in resources
            if not self.by_resource.get(r.name.casefold(), frozenset()).intersection(span)
        ]

    def fits(self, capacity: int, start: datetime, end: datetime, resources: list[Resource] | None) -> bool:
        """``resources`` None: the tenant books no resources; else the candidates (one must be free)."""
        span = cells(start, end)
        if self.is_blocked(start, end) or any(self.taken.get(c, 0) >= capacity for c in span):
            return False
        return resources is None or bool(self.free_resources(resources, span))


def free_starts(
    cfg: CalendarConfig,
    tz: ZoneInfo,
    duration: timedelta,
    first: date,
    last: date,
    now: datetime,
    occupancy: Occupancy,
    resources: list[Resource] | None,
) -> list[datetime]:
    """Every bookable start from local day ``first`` to ``last`` (inclusive), in order."""
    out = []
    day = first
    while day <= last:
        for start in grid(cfg, day, tz, duration):
            if refusal(cfg, tz, start, duration, now, "appointment") is None and occupancy.fits(
                cfg.capacity, start, start + duration, resources
            ):
                out.append(start)
        day += timedelta(days=1)
    return out
