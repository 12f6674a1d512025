"""A CalDAV calendar (Nextcloud, iCloud, Fastmail, Radicale, …) spoken directly over HTTP (RFC 4791).

The CalDAV URL is the tenant's choice, so every request goes through the outbound guard's client
(``security.ssrf.guarded_client``): resolved address checked and pinned, redirects checked again.
No CalDAV library lets us hand it such a client (``caldav`` builds its own niquests session), and
the three requests needed here are small, so they are written out: PUT and DELETE of one event
resource, a calendar-query REPORT for busy times, and a PROPFIND to find a calendar by name.

An appointment is one event resource named after its UID, so writing it again replaces it: a
retried PUT cannot duplicate it. Busy times are a time-range query that asks the server to expand
recurrences (RFC 4791 §9.6.5).
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
import icalendar

from frontdesk.calendar.backend import CalendarBackend, Interval
from frontdesk.calendar.connections import CalDavConfig
from frontdesk.calendar.ics import CalendarEvent, busy_intervals, event_document
from frontdesk.errors import SyncFailed
from frontdesk.security.ssrf import OutboundError
from frontdesk.store.db import utcnow

TIMEOUT_SECONDS = 15
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a month of busy times is a few KiB; a hostile server gets cut off
NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}

_FIND_CALENDARS = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:resourcetype/></d:prop></d:propfind>"""

_PRINCIPAL = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:current-user-principal/><c:calendar-home-set/></d:prop></d:propfind>"""

_BUSY_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><c:calendar-data><c:expand start="{start}" end="{end}"/></c:calendar-data></d:prop>
<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
<c:time-range start="{start}" end="{end}"/></c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"""


class _Credentials(httpx.Auth):
    """Basic, digest or bearer; with no auth_type, the server's 401 challenge picks basic or digest."""

    def __init__(self, cfg: CalDavConfig) -> None:
        self.kind = cfg.auth_type
        self.username = cfg.username
        self.password = cfg.password  # decrypted (or read from the environment) by tenant_secrets.for_use
        self.digest = httpx.DigestAuth(self.username, self.password)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not (self.username or self.password):
            yield request
            return
        if self.kind == "bearer":
            request.headers["Authorization"] = f"Bearer {self.password}"
            yield request
            return
        if self.kind == "basic":
            yield self._basic(request)
            return
        if self.kind == "digest":
            yield from self.digest.auth_flow(request)
            return
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "").split(" ", 1)[0].lower()
        if challenge != "digest":
            yield self._basic(request)
            return
        flow = self.digest.auth_flow(request)
        next(flow)
        try:
            yield flow.send(response)
        except StopIteration:
            return

    def _basic(self, request: httpx.Request) -> httpx.Request:
        pair = f"{self.username}:{self.password}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return request


class CalDavBackend(CalendarBackend):
    name = "caldav"

    def __init__(self, cfg: CalDavConfig, http: httpx.AsyncClient) -> None:
        self.cfg = cfg
        self.http = http
        self._calendar_url: str | None = None if cfg.calendar else _as_collection(cfg.url)

    async def _send(
        self, method: str, url: str, doing: str, *, ok: tuple[int, ...] = (), **kw: Any
    ) -> tuple[httpx.Response, bytes]:
        try:
            async with self.http.stream(
                method,
                url,
                auth=_Credentials(self.cfg),
                timeout=TIMEOUT_SECONDS,
                follow_redirects=True,
                **kw,
            ) as response:
                body = await _capped(response)
        except OutboundError as exc:
            raise SyncFailed(f"CalDAV {doing} failed: {exc.message}") from None
        except httpx.HTTPError as exc:
            raise SyncFailed(f"CalDAV {doing} failed: {type(exc).__name__}") from None
        if not (response.is_success or response.status_code in ok):
            # The status only: the body of a server the tenant named is not ours to show.
            raise SyncFailed(f"CalDAV {doing} failed: HTTP {response.status_code}")
        return response, body

    async def _calendar(self, doing: str) -> str:
        if self._calendar_url is None:
            self._calendar_url = await self._find_calendar(doing)
        return self._calendar_url

    async def _find_calendar(self, doing: str) -> str:
        base = _as_collection(self.cfg.url)
        found = await self._propfind(base, _PRINCIPAL, "0", doing)
        home = _href(found, "c:calendar-home-set")
        if home is None:
            principal = _href(found, "d:current-user-principal")
            if principal is not None:
                found = await self._propfind(_join(base, principal), _PRINCIPAL, "0", doing)
                home = _href(found, "c:calendar-home-set")
        listing = await self._propfind(_join(base, home or base), _FIND_CALENDARS, "1", doing)
        for item in listing.findall("d:response", NS):
            name = item.findtext(".//d:displayname", default="", namespaces=NS)
            is_calendar = item.find(".//d:resourcetype/c:calendar", NS) is not None
            href = item.findtext("d:href", default="", namespaces=NS)
            if is_calendar and name == self.cfg.calendar and href:
                return _as_collection(_join(base, href))
        raise SyncFailed(f"CalDAV {doing} failed: no calendar named {self.cfg.calendar!r} was found")

    async def _propfind(self, url: str, body: str, depth: str, doing: str) -> ElementTree.Element:
        _, answer = await self._send(
            "PROPFIND", url, doing, content=body.encode(), headers=_xml_headers(depth)
        )
        return _parse_xml(answer, doing)

    async def put(self, event: CalendarEvent, external_id: str | None, sequence: int) -> str:
        url = external_id or _event_url(await self._calendar("saving the event"), event)
        document = event_document(event, utcnow(), sequence).encode()
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        await self._send("PUT", url, "saving the event", content=document, headers=headers)
        return url

    async def remove(self, event: CalendarEvent, external_id: str | None) -> None:
        url = external_id or _event_url(await self._calendar("deleting the event"), event)
        await self._send("DELETE", url, "deleting the event", ok=(404, 410))  # gone counts as deleted

    async def busy(self, start: datetime, end: datetime, tz: Any) -> list[Interval]:
        doing = "reading busy times"
        query = _BUSY_QUERY.format(start=_stamp(start), end=_stamp(end)).encode()
        _, answer = await self._send(
            "REPORT", await self._calendar(doing), doing, content=query, headers=_xml_headers("1")
        )
        components = []
        for data in _parse_xml(answer, doing).iterfind(".//c:calendar-data", NS):
            try:
                components += icalendar.Calendar.from_ical(data.text or "").walk("VEVENT")
            except ValueError:
                continue  # one unreadable event must not hide the others
        spans = busy_intervals(components, tz)
        return [(a, b) for a, b in spans if a < end and b > start]


async def _capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise SyncFailed(f"the CalDAV server's answer is over {MAX_ANSWER_BYTES // 2**20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_xml(body: bytes, doing: str) -> ElementTree.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # no entity tricks from a server a tenant names
        raise SyncFailed(f"CalDAV {doing} failed: the server's answer declares a DTD")
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise SyncFailed(f"CalDAV {doing} failed: the server's answer is not WebDAV XML") from None


def _href(root: ElementTree.Element, prop: str) -> str | None:
    href = root.find(f".//{prop}/d:href", NS)
    return href.text.strip() if href is not None and href.text else None


def _xml_headers(depth: str) -> dict[str, str]:
    return {"Content-Type": "application/xml; charset=utf-8", "Depth": depth}


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _as_collection(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _join(base: str, href: str) -> str:
    return str(httpx.URL(base).join(href))


def _event_url(calendar_url: str, event: CalendarEvent) -> str:
    return calendar_url + quote(event.uid, safe="") + ".ics"
