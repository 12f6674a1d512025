"""One Retry-After reader for provider and model clients: delay-seconds or an HTTP-date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from frontdesk.model.http import retry_after

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0.1", 0.1),
        ("0", 0.0),
        ("-3", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:59:00 GMT", 0.0),  # already past: go now
        ("Sun, 01 Mar 2026 12:00:30", 30.0),  # no zone: read as UTC
        ("soon", None),
        ("", None),
        ("inf", None),
        ("nan", None),
        ("1e400", None),
    ],
)
def test_delay_seconds_or_http_date(value: str, seconds: float | None) -> None:
    assert retry_after({"Retry-After": value}, now=NOW) == seconds


def test_no_header_is_nothing_to_honour() -> None:
    assert retry_after({}, now=NOW) is None
    assert retry_after({"Content-Type": "application/json"}) is None


def test_a_response_or_its_headers_any_case() -> None:
    response = httpx.Response(429, headers={"Retry-After": "7"})
    assert retry_after(response) == retry_after(response.headers) == 7.0
    assert retry_after({"retry-after": "5"}) == retry_after({"RETRY-AFTER": "5"}) == 5.0


def test_a_date_is_measured_from_now_by_default() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    wait = retry_after({"Retry-After": later})
    assert wait is not None and 80 <= wait <= 91
