"""The calendar of a tenant, as configured in its ``settings.calendar``.

Example::

    {"services": [{"name": "Haircut", "duration_minutes": 30, "price": 25}],
     "resources": [{"name": "Anna"}, {"name": "Ben", "services": ["Haircut"]}],
     "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sat": ["10:00-14:00"]},
     "closed_dates": ["2026-12-25", "2026-12-31..2027-01-02"],
     "special_hours": {"2026-12-24": ["09:00-12:00"]},
     "slot_minutes": 30, "max_concurrent": 2,
     "caldav": {"url": "https://dav.example.com/cal/shop/", "username": "shop", "password": "…"}}

Occupancy is kept in 5-minute cells (see ``slots.py``), so every duration, slot size and opening
time must fall on a 5-minute boundary; a configuration can then change without corrupting the
bookings already made under the old one.
"""

from __future__ import annotations

import itertools
from datetime import date, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from frontdesk.calendar.connections import CalDavConfig, GoogleConfig
from frontdesk.errors import ConfigError

CELL_MINUTES = 5
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TimeRange = tuple[time, time | None]  # None closes at midnight ("…-24:00")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _five(value: int, what: str) -> int:
    if value % CELL_MINUTES:
        raise ValueError(f"{what} must be a multiple of {CELL_MINUTES} minutes (got {value})")
    return value


class Service(_Model):
    name: str = Field(min_length=1, max_length=200)
    duration_minutes: int = Field(ge=CELL_MINUTES, le=24 * 60)
    price: float | str | None = None

    @field_validator("duration_minutes")
    @classmethod
    def _duration(cls, v: int) -> int:
        return _five(v, "duration_minutes")

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


class Resource(_Model):
    """A person or room that takes one appointment at a time; ``services`` empty means all of them."""

    name: str = Field(min_length=1, max_length=200)
    services: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v == "*":  # the key of the tenant-wide seats in calendar_slots
            raise ValueError("'*' is reserved; give the person or room a name")
        return v

    def does(self, service: str) -> bool:
        return not self.services or service.casefold() in {s.casefold() for s in self.services}


def _parse_time(text: str, *, end: bool) -> time | None:
    if end and text == "24:00":
        return None
    try:
        value = time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time like 09:00") from None
    if value.minute % CELL_MINUTES or value.second:
        raise ValueError(f"{text!r} must fall on a {CELL_MINUTES}-minute boundary")
    return value


def parse_ranges(raw: Any, where: str) -> tuple[TimeRange, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f'{where}: expected a list of ranges like ["09:00-17:00"]')
    out: list[TimeRange] = []
    for item in items:
        if not isinstance(item, str) or item.count("-") != 1:
            raise ValueError(f'{where}: {item!r} is not a range like "09:00-17:00"')
        left, right = (p.strip() for p in item.split("-"))
        try:
            start = _parse_time(left, end=False)
            stop = _parse_time(right, end=True)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        assert start is not None
        if stop is not None and stop <= start:
            raise ValueError(f"{where}: {item!r} closes before it opens")
        out.append((start, stop))
    out.sort(key=lambda r: r[0])
    for (_, a_end), (b_start, _) in itertools.pairwise(out):
        if a_end is None or a_end > b_start:
            raise ValueError(f"{where}: ranges overlap")
    return tuple(out)


def _parse_day(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ValueError(f"{where}: {text!r} is not a date like 2026-12-25") from None


class CalendarConfig(_Model):
    services: tuple[Service, ...]
    resources: tuple[Resource, ...] = ()
    hours: dict[str, tuple[TimeRange, ...]]
    closed_dates: frozenset[date] = frozenset()
    special_hours: dict[date, tuple[TimeRange, ...]] = Field(default_factory=dict)
    slot_minutes: int = Field(default=30, ge=CELL_MINUTES, le=24 * 60)
    max_concurrent: int = Field(default=0, ge=0, le=1000)  # 0: one per resource, else 1
    min_notice_minutes: int = Field(default=0, ge=0)
    max_days_ahead: int = Field(default=180, ge=1, le=730)
    caldav: CalDavConfig | None = None
    google: GoogleConfig | None = None

    @field_validator("services", mode="after")
    @classmethod
    def _services(cls, v: tuple[Service, ...]) -> tuple[Service, ...]:
        if not v:
            raise ValueError('needs at least one service like {"name": "Haircut", "duration_minutes": 30}')
        names = [s.name.casefold() for s in v]
        if len(set(names)) != len(names):
            raise ValueError("service names must be unique")
        return v

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, v: Any) -> dict[str, tuple[TimeRange, ...]]:
        if not isinstance(v, dict) or not v:
            raise ValueError('needs opening hours per weekday, like {"mon": ["09:00-17:00"]}')
        out: dict[str, tuple[TimeRange, ...]] = {}
        for key, ranges in v.items():
            day = str(key).strip().lower()[:3]
            if day not in WEEKDAYS:
                raise ValueError(f"{key!r} is not a weekday (use {', '.join(WEEKDAYS)})")
            out[day] = parse_ranges(ranges, f"hours.{key}")
        return out

    @field_validator("closed_dates", mode="before")
    @classmethod
    def _closed(cls, v: Any) -> frozenset[date]:
        if not isinstance(v, list | tuple | set | frozenset):
            raise ValueError('must be a list of dates like ["2026-12-25", "2026-12-31..2027-01-02"]')
        days: set[date] = set()
        for item in v:
            if isinstance(item, date):
                days.add(item)
                continue
            first, _, last = str(item).partition("..")
            a = _parse_day(first, "closed_dates")
            b = _parse_day(last, "closed_dates") if last else a
            if b < a or (b - a).days > 366:
                raise ValueError(f"closed_dates: {item!r} is not a range of at most a year")
            days.update(a + timedelta(days=i) for i in range((b - a).days + 1))
        return frozenset(days)

    @field_validator("special_hours", mode="before")
    @classmethod
    def _special(cls, v: Any) -> dict[date, tuple[TimeRange, ...]]:
        if not isinstance(v, dict):
            raise ValueError('must map dates to ranges, like {"2026-12-24": ["09:00-12:00"]}')
        return {
            _parse_day(str(k), "special_hours"): parse_ranges(r, f"special_hours.{k}") for k, r in v.items()
        }

    @field_validator("slot_minutes")
    @classmethod
    def _slot(cls, v: int) -> int:
        return _five(v, "slot_minutes")

    @model_validator(mode="after")
    def _rules(self) -> CalendarConfig:
        names = [r.name.casefold() for r in self.resources]
        if len(set(names)) != len(names):
            raise ValueError("resource names must be unique")
        known = {s.name.casefold() for s in self.services}
        for r in self.resources:
            unknown = [s for s in r.services if s.casefold() not in known]
            if unknown:
                raise ValueError(f"resource {r.name!r} names unknown services: {', '.join(unknown)}")
        if self.caldav and self.google:
            raise ValueError("connect either caldav or google, not both")
        return self

    @property
    def capacity(self) -> int:
        """How many appointments may overlap at any moment."""
        return self.max_concurrent or max(1, len(self.resources))

    @property
    def sync_backend(self) -> str | None:
        return "caldav" if self.caldav else "google" if self.google else None

    def service(self, name: str) -> Service:
        wanted = name.strip().casefold()
        for s in self.services:
            if s.name.casefold() == wanted:
                return s
        raise ConfigError(
            f"unknown service {name!r}; the services are: " + ", ".join(s.name for s in self.services)
        )

    def resources_for(self, service: Service, wanted: str | None = None) -> list[Resource]:
        """The resources that may take ``service`` (only ``wanted`` if named); [] when none configured."""
        if not self.resources:
            if wanted:
                raise ConfigError("this business does not book specific people or rooms")
            return []
        fit = [r for r in self.resources if r.does(service.name)]
        if wanted:
            fit = [r for r in fit if r.name.casefold() == wanted.strip().casefold()]
            if not fit:
                names = ", ".join(r.name for r in self.resources if r.does(service.name))
                raise ConfigError(f"{wanted!r} does not do {service.name}; who does: {names}")
        return fit

    def ranges_on(self, day: date) -> tuple[TimeRange, ...]:
        if day in self.closed_dates:
            return ()
        if day in self.special_hours:
            return self.special_hours[day]
        return self.hours.get(WEEKDAYS[day.weekday()], ())


def load(settings: dict[str, Any] | None) -> CalendarConfig:
    """The tenant's calendar, validated; ConfigError with every problem when it is missing or wrong."""
    raw = (settings or {}).get("calendar")
    if not raw:
        raise ConfigError("this business has no calendar set up (settings.calendar)")
    if not isinstance(raw, dict):
        raise ConfigError("settings.calendar must be an object")
    try:
        return CalendarConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err.get("loc", ()))
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append({"field": f"settings.calendar.{field}".rstrip("."), "message": message})
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise ConfigError(f"invalid calendar settings: {text}", details=problems) from None
