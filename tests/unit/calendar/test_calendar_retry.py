"""A write that PostgreSQL aborted to break a deadlock is run again; other errors are not."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import DBAPIError

from frontdesk.calendar import TenantCalendar
from frontdesk.calendar.config import load

CFG = load(
    {"calendar": {"services": [{"name": "X", "duration_minutes": 30}], "hours": {"mon": ["09:00-17:00"]}}}
)


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class _FlakyDb:
    def __init__(self, *failures: str) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def run_write(self, fn: Any) -> Any:
        self.calls += 1
        if self.failures:
            raise DBAPIError("INSERT …", {}, _PgError(self.failures.pop(0)))
        return fn(None)


async def test_deadlocks_are_retried() -> None:
    db = _FlakyDb("40P01", "40001")
    cal = TenantCalendar(db, "t", CFG, ZoneInfo("UTC"))  # type: ignore[arg-type]
    assert await cal._write(lambda _: "done") == "done"
    assert db.calls == 3


async def test_other_errors_and_persistent_deadlocks_are_raised() -> None:
    cal = TenantCalendar(_FlakyDb("23505"), "t", CFG, ZoneInfo("UTC"))  # type: ignore[arg-type]
    with pytest.raises(DBAPIError):
        await cal._write(lambda _: "done")
    stuck = _FlakyDb("40P01", "40P01", "40P01", "40P01")
    with pytest.raises(DBAPIError):
        await TenantCalendar(stuck, "t", CFG, ZoneInfo("UTC"))._write(lambda _: "done")  # type: ignore[arg-type]
    assert stuck.calls == 3
