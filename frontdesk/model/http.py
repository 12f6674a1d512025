"""HTTP rules that provider clients (channels) and model clients (agents) share; no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol


class HasHeaders(Protocol):
    """A response of any HTTP client (httpx, httpx2, Starlette's test client)."""

    @property
    def headers(self) -> Mapping[str, str]: ...


def retry_after(source: HasHeaders | Mapping[str, str], now: datetime | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (RFC 9110, section 10.2.3), or None.

    ``source`` is a response or its headers (any case of the name). The value is delay-seconds
    (decimals too, as some servers send them) or an HTTP-date, compared with ``now`` (the current
    time by default); a negative delay or a past date is 0. Without the header, or with a value
    that is neither or is not finite, there is nothing to honour: None.
    """
    headers = source if isinstance(source, Mapping) else source.headers
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
