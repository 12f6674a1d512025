"""Availability without a database: windows, the grid, refusals and occupancy, in the tenant's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.calendar.config import Resource, load
from frontdesk.calendar.slots import Occupancy, cells, free_starts, grid, refusal
from frontdesk.calendar.times import parse_bound, parse_datetime
from frontdesk.errors import BadRequest

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2030, 3, 4)  # an ordinary Monday, far from any clock change
NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)  # the Friday before
CFG = load(
    {
        "calendar": {
            "services": [
                {"name": "Haircut", "duration_minutes": 30},
                {"name": "Colour", "duration_minutes": 90},
            ],
            "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sun": []},
            "closed_dates": ["2030-03-11"],
            "slot_minutes": 30,
            "max_days_ahead": 60,
            "min_notice_minutes": 120,
        }
    }
)
HALF = timedelta(minutes=30)


def paris(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=PARIS).astimezone(UTC)


def test_grid_follows_opening_hours_and_duration() -> None:
    starts = [t.astimezone(PARIS).strftime("%H:%M") for t in grid(CFG, MONDAY, PARIS, HALF)]
    assert starts[:3] == ["09:00", "09:30", "10:00"] and "11:30" in starts and "12:00" not in starts
    assert starts[-1] == "16:30" and len(starts) == 14
    colour = [t.astimezone(PARIS).strftime("%H:%M") for t in grid(CFG, MONDAY, PARIS, timedelta(minutes=90))]
    assert colour == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "13:00",
        "13:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
    ]


def test_opening_hours_are_wall_time_across_a_clock_change() -> None:
    spring = date(2030, 3, 31)  # Paris moves from +01:00 to +02:00 at 02:00 that Sunday
    hours = {"sun": ["09:00-11:00"]}
    cfg = load(
        {
            "calendar": {
                "services": [{"name": "X", "duration_minutes": 60}],
                "hours": hours,
                "slot_minutes": 60,
            }
        }
    )
    before = grid(cfg, spring - timedelta(days=7), PARIS, timedelta(hours=1))
    after = grid(cfg, spring, PARIS, timedelta(hours=1))
    assert [t.hour for t in before] == [8, 9] and [t.hour for t in after] == [7, 8]  # UTC hours
    assert [t.astimezone(PARIS).hour for t in after] == [9, 10]


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        (paris(date(2030, 2, 25), 10), "already passed"),
        (NOW + timedelta(minutes=30), "120 minutes' notice"),
        (paris(MONDAY + timedelta(days=70), 10), "at most 60 days ahead"),
        (paris(date(2030, 3, 11), 10), "closed on Monday 11 March 2030"),
        (paris(date(2030, 3, 5), 10), "closed on Tuesdays"),
        (paris(MONDAY, 8, 30), "outside our opening hours on Monday (09:00-12:00, 13:00-17:00)"),
        (paris(MONDAY, 12, 30), "outside our opening hours"),
        (paris(MONDAY, 11, 45), "would end after closing time (12:00)"),
        (paris(MONDAY, 10, 10), "start every 30 minutes"),
    ],
)
def test_refusals_explain_themselves(start: datetime, reason: str) -> None:
    assert reason in (refusal(CFG, PARIS, start, HALF, NOW, "Haircut") or "")


def test_a_good_time_is_not_refused() -> None:
    assert refusal(CFG, PARIS, paris(MONDAY, 10), HALF, NOW, "Haircut") is None


def test_cells_cover_the_span_in_five_minutes() -> None:
    start = paris(MONDAY, 10)
    assert len(cells(start, start + timedelta(hours=1))) == 12
    assert cells(start + timedelta(minutes=2), start + timedelta(minutes=6)) == [
        start,
        start + timedelta(minutes=5),
    ]


def test_occupancy_counts_against_capacity() -> None:
    start = paris(MONDAY, 10)
    one = Occupancy(taken={c: 1 for c in cells(start, start + HALF)})
    assert not one.fits(1, start, start + HALF, None)
    assert one.fits(2, start, start + HALF, None)
    # A 90-minute colour from 09:00 overlaps the taken 10:00 half hour.
    assert not one.fits(1, paris(MONDAY, 9), paris(MONDAY, 10, 30), None)
    assert one.fits(1, paris(MONDAY, 10, 30), paris(MONDAY, 11), None)


def test_external_busy_times_block() -> None:
    busy = Occupancy(blocked=((paris(MONDAY, 9, 45), paris(MONDAY, 10, 15)),))
    free = free_starts(CFG, PARIS, HALF, MONDAY, MONDAY, NOW, busy, None)
    local = [t.astimezone(PARIS).strftime("%H:%M") for t in free]
    assert "09:30" not in local and "10:00" not in local and "09:00" in local and "10:30" in local


def test_resources_need_one_free_that_does_the_service() -> None:
    anna, ben = Resource(name="Anna"), Resource(name="Ben")
    start = paris(MONDAY, 10)
    span = cells(start, start + HALF)
    anna_busy = Occupancy(taken={c: 1 for c in span}, by_resource={"anna": frozenset(span)})
    assert anna_busy.fits(2, start, start + HALF, [anna, ben])
    assert not anna_busy.fits(2, start, start + HALF, [anna])


def test_free_starts_skip_closed_days_and_the_past() -> None:
    free = free_starts(CFG, PARIS, HALF, date(2030, 3, 1), date(2030, 3, 11), NOW, Occupancy(), None)
    days = {t.astimezone(PARIS).date() for t in free}
    assert days == {MONDAY}  # only Mondays open, and 11 March is a holiday


def test_parsing_local_times() -> None:
    assert parse_datetime("2030-03-04T10:00", PARIS) == paris(MONDAY, 10)
    assert parse_datetime("2030-03-04 10:00:00", PARIS) == paris(MONDAY, 10)
    assert parse_datetime("2030-03-04T09:00Z", PARIS) == paris(MONDAY, 10)
    assert parse_datetime("2030-03-04T11:00+02:00", PARIS) == paris(MONDAY, 10)
    assert parse_bound("2030-03-04", PARIS, end=True, what="to") == paris(MONDAY + timedelta(days=1), 0)
    with pytest.raises(BadRequest, match="date and time"):
        parse_datetime("2030-03-04", PARIS)
    with pytest.raises(BadRequest, match="date and time"):
        parse_datetime("next monday at 10", PARIS)
    with pytest.raises(BadRequest, match="does not exist in Europe/Paris"):
        parse_datetime("2030-03-31T02:30", PARIS)
