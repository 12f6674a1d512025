"""The calendar a tenant connected, as a backend: CalDAV or Google."""

from __future__ import annotations

from typing import Any

import httpx

from frontdesk.calendar.backend import CalendarBackend
from frontdesk.calendar.caldav_sync import CalDavBackend
from frontdesk.calendar.config import CalendarConfig
from frontdesk.calendar.google_sync import GoogleBackend


def backend_for(
    cfg: CalendarConfig, http: httpx.AsyncClient, tokens: dict[str, Any]
) -> CalendarBackend | None:
    """The tenant's connected calendar, or None. ``tokens`` caches OAuth access tokens between calls.

    ``http`` must be a guarded client (``security.ssrf.guarded_client``): calendar URLs are the tenant's.
    """
    if cfg.caldav is not None:
        return CalDavBackend(cfg.caldav, http)
    if cfg.google is not None:
        return GoogleBackend(cfg.google, http, tokens)
    return None
