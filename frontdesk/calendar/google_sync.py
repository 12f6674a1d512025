"""Google Calendar through its REST API (v3), with ``base_url`` configurable for tests.

The event id is derived from the appointment id (Google accepts client-chosen ids in base32hex),
so inserting again after a lost response answers 409 and becomes an update instead of a copy.
Busy times come from the event list, not from freeBusy: freeBusy would count our own bookings,
which already take their seats here.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from frontdesk.calendar.backend import CalendarBackend, Interval
from frontdesk.calendar.connections import GoogleConfig
from frontdesk.calendar.google_auth import GoogleAuth
from frontdesk.calendar.ics import CalendarEvent
from frontdesk.errors import SyncFailed
from frontdesk.security.ssrf import OutboundError

PRIVATE_KEY = "frontdesk_appointment_id"


def event_id(appointment_id: str) -> str:
    return "fd" + hashlib.sha256(appointment_id.encode()).hexdigest()[:40]


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _when(value: dict[str, Any], tz: ZoneInfo) -> datetime:
    if "dateTime" in value:
        return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00")).astimezone(UTC)
    day = datetime.fromisoformat(value["date"])
    return day.replace(tzinfo=tz).astimezone(UTC)


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, OutboundError) else type(exc).__name__


class GoogleBackend(CalendarBackend):
    name = "google"

    def __init__(self, cfg: GoogleConfig, http: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
        self.cfg = cfg
        self.http = http
        self.auth = GoogleAuth(cfg, http, tokens)
        self.events_url = f"{cfg.base_url.rstrip('/')}/calendars/{quote(cfg.calendar_id, safe='')}/events"

    async def _call(
        self, method: str, url: str, doing: str, ok: tuple[int, ...] = (), **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.auth.token()}"}
        try:
            r = await self.http.request(method, url, headers=headers, **kw)
        except (httpx.HTTPError, OutboundError) as exc:
            raise SyncFailed(f"Google Calendar {doing} failed: {_reason(exc)}") from exc
        if r.status_code == 401:
            self.auth.forget()  # expired or revoked: the next attempt fetches a new one
        if r.is_success or r.status_code in ok:
            return r
        # The status only: tenants read this message, and the answer's body is not theirs to see.
        raise SyncFailed(f"Google Calendar {doing} failed: HTTP {r.status_code}")

    def _body(self, event: CalendarEvent) -> dict[str, Any]:
        return {
            "summary": event.summary,
            "description": event.description,
            "start": {"dateTime": _utc(event.start)},
            "end": {"dateTime": _utc(event.end)},
            "status": "confirmed",  # also revives an event deleted earlier under the same id
            "extendedProperties": {"private": {PRIVATE_KEY: event.appointment_id}},
        }

    async def put(self, event: CalendarEvent, external_id: str | None, sequence: int) -> str:
        gid = external_id or event_id(event.appointment_id)
        body = self._body(event)
        url = f"{self.events_url}/{gid}"
        if external_id is not None:
            r = await self._call("PUT", url, "updating the event", ok=(404, 410), json=body)
            if r.is_success:
                return gid
        r = await self._call(
            "POST", self.events_url, "creating the event", ok=(409,), json={"id": gid, **body}
        )
        if r.status_code == 409:  # created by an earlier attempt whose answer was lost
            await self._call("PUT", url, "updating the event", json=body)
        return gid

    async def remove(self, event: CalendarEvent, external_id: str | None) -> None:
        gid = external_id or event_id(event.appointment_id)
        await self._call("DELETE", f"{self.events_url}/{gid}", "deleting the event", ok=(404, 410))

    async def busy(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[Interval]:
        out: list[Interval] = []
        params: dict[str, Any] = {
            "timeMin": _utc(start),
            "timeMax": _utc(end),
            "singleEvents": "true",
            "maxResults": 2500,
        }
        while True:
            body = (await self._call("GET", self.events_url, "reading busy times", params=params)).json()
            for item in body.get("items", []):
                ours = (item.get("extendedProperties") or {}).get("private", {}).get(PRIVATE_KEY)
                free = item.get("transparency") == "transparent" or item.get("status") == "cancelled"
                if ours or free or "start" not in item or "end" not in item:
                    continue
                a, b = _when(item["start"], tz), _when(item["end"], tz)
                if b > a:
                    out.append((a, b))
            token = body.get("nextPageToken")
            if not token:
                return out
            params["pageToken"] = token
