"""Reading the times people (and models) write: local ISO-8601, with or without an offset."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frontdesk.errors import BadRequest, ConfigError


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone {name!r} is not an IANA time zone") from None


def _iso(text: str) -> str:
    text = text.strip().replace(" ", "T", 1)
    return text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text


def parse_datetime(text: object, tz: ZoneInfo, what: str = "start") -> datetime:
    """A wall time in ``tz`` (naive input) or any instant (with an offset), as aware UTC."""
    if not isinstance(text, str) or "T" not in _iso(text):
        raise BadRequest(f"{what} must be a date and time like 2026-05-04T10:30 (got {text!r})")
    try:
        value = datetime.fromisoformat(_iso(text))
    except ValueError:
        raise BadRequest(f"{what} must be a date and time like 2026-05-04T10:30 (got {text!r})") from None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    local = value.replace(tzinfo=tz)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value:
        raise BadRequest(f"{text} does not exist in {tz.key}: the clocks change then")
    return local.astimezone(UTC)


def parse_date(text: object, what: str = "date") -> date:
    if not isinstance(text, str):
        raise BadRequest(f"{what} must be a date like 2026-05-04 (got {text!r})")
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise BadRequest(f"{what} must be a date like 2026-05-04 (got {text!r})") from None


def parse_bound(text: str, tz: ZoneInfo, *, end: bool, what: str) -> datetime:
    """A range bound: a date (its start; for ``end``, the start of the next day) or a date-time."""
    if "T" in _iso(text):
        return parse_datetime(text, tz, what)
    day = parse_date(text, what) + timedelta(days=1 if end else 0)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_iso(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds")
