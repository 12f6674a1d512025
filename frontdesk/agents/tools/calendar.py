"""Calendar tools: check availability, book, reschedule, cancel, list the customer's appointments.

Times go in and out as ISO-8601 in the business's time zone (an offset is accepted and given
back). A contact only ever sees and changes their own appointments: another contact's id is
"not found", exactly like an id that does not exist. Every refusal is a ``ToolError`` whose
message the model can pass on to the customer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, overload

from frontdesk.agents.tools.base import Tool, ToolContext, ToolError
from frontdesk.calendar import Appointment, FullyBooked, TenantCalendar
from frontdesk.calendar.config import Service
from frontdesk.calendar.times import local_iso, parse_bound, parse_date, parse_datetime
from frontdesk.errors import FrontdeskError
from frontdesk.store.db import utcnow

MAX_SLOTS = 20
DEFAULT_DAYS = 7


async def _open(ctx: ToolContext) -> tuple[TenantCalendar, datetime]:
    tenant = ctx.tenant or await ctx.deps.cache.tenant(ctx.tenant_id)
    if tenant is None:
        raise ToolError("booking is not available right now; offer to pass the request to a person")
    try:
        cal = TenantCalendar.of(ctx.deps.db, ctx.tenant_id, tenant.settings, tenant.timezone)
    except FrontdeskError as exc:
        raise ToolError(
            f"booking is not available ({exc.message}); offer to pass the request to a person"
        ) from None
    return cal, (ctx.now or utcnow()).astimezone(UTC)


@overload
def _text(args: dict[str, Any], key: str, *, required: Literal[True] = True, limit: int = 200) -> str: ...
@overload
def _text(args: dict[str, Any], key: str, *, required: bool, limit: int = 200) -> str | None: ...
def _text(args: dict[str, Any], key: str, *, required: bool = True, limit: int = 200) -> str | None:
    value = args.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ToolError(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise ToolError(f"'{key}' must be a string")
    if len(value) > limit:
        raise ToolError(f"'{key}' is longer than {limit} characters")
    return value.strip()


def _service(cal: TenantCalendar, name: str | None) -> Service:
    if name is None:
        return min(cal.cfg.services, key=lambda s: s.duration_minutes)
    try:
        return cal.cfg.service(name)
    except FrontdeskError as exc:
        raise ToolError(exc.message) from None


def _when(cal: TenantCalendar, text: str) -> datetime:
    try:
        return parse_datetime(text, cal.tz)
    except FrontdeskError as exc:
        raise ToolError(exc.message) from None


def _sync(ctx: ToolContext, appt: Appointment) -> None:
    sync = getattr(ctx.deps, "calendar_sync", None)
    if sync is not None and appt.sync_status == "pending":
        sync.poke()


def _range(cal: TenantCalendar, args: dict[str, Any], now: datetime) -> tuple[date, date, datetime, datetime]:
    """Local first and last day, and the instants that bound the answer."""
    day = _text(args, "date", required=False)
    start = _text(args, "from", required=False)
    stop = _text(args, "to", required=False)
    everything = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    try:
        if day:
            first = parse_date(day)
            return first, first, *everything
        if not (start or stop):
            first = now.astimezone(cal.tz).date()
            return first, first + timedelta(days=DEFAULT_DAYS - 1), *everything
        lo = parse_bound(start, cal.tz, end=False, what="from") if start else now
        hi = parse_bound(stop, cal.tz, end=True, what="to") if stop else lo + timedelta(days=DEFAULT_DAYS)
    except FrontdeskError as exc:
        raise ToolError(exc.message) from None
    if hi <= lo:
        raise ToolError("'to' must come after 'from'")
    last = (hi - timedelta(microseconds=1)).astimezone(cal.tz).date()
    return lo.astimezone(cal.tz).date(), last, lo, hi


async def check_availability(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    cal, now = await _open(ctx)
    wanted = _text(args, "service", required=False)
    service = _service(cal, wanted)
    first, last, lo, hi = _range(cal, args, now)
    try:
        found = await cal.availability(first, last, service, now, _text(args, "resource", required=False))
    except FrontdeskError as exc:
        raise ToolError(exc.message) from None
    found = [t for t in found if lo <= t < hi]
    out: dict[str, Any] = {
        "timezone": cal.tz.key,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "service": service.name,
        "duration_minutes": service.duration_minutes,
        "slots": [local_iso(t, cal.tz) for t in found[:MAX_SLOTS]],
        "total": len(found),
        "truncated": len(found) > MAX_SLOTS,
    }
    if wanted is None:
        out["services"] = [
            {"name": s.name, "duration_minutes": s.duration_minutes, "price": s.price}
            for s in cal.cfg.services
        ]
    if not found:
        out["message"] = "no free times in that range; try other days"
    elif out["truncated"]:
        out["message"] = (
            f"showing the first {MAX_SLOTS} of {len(found)} free times; ask a narrower range for more"
        )
    return out


async def book_appointment(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    cal, now = await _open(ctx)
    service = _service(cal, _text(args, "service"))
    start = _when(cal, _text(args, "start"))
    name = _text(args, "name")
    try:
        booked = await cal.book(
            ctx.contact_id,
            service,
            start,
            name or "",
            now,
            conversation_id=ctx.conversation_id or None,
            resource=_text(args, "resource", required=False),
            notes=_text(args, "notes", required=False, limit=1000) or "",
        )
    except FullyBooked as exc:
        raise ToolError(await _with_alternatives(cal, exc.message, service, start, now)) from None
    except FrontdeskError as exc:
        raise ToolError(exc.message) from None
    _sync(ctx, booked.appointment)
    out = booked.appointment.local(cal.tz)
    out["duplicate"] = booked.duplicate
    if service.price is not None:
        out["price"] = service.price
    return out


async def _with_alternatives(
    cal: TenantCalendar, message: str, service: Service, start: datetime, now: datetime
) -> str:
    nearby = await cal.nearest(service, start, now)
    if not nearby:
        return f"{message}, and nothing else is free that day or the next"
    return f"{message}; the nearest free times are " + ", ".join(local_iso(t, cal.tz) for t in sorted(nearby))


async def reschedule_appointment(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    cal, now = await _open(ctx)
    appointment_id = _text(args, "appointment_id", limit=40)
    start = _when(cal, _text(args, "start"))
    try:
        before = await cal.get(ctx.contact_id, appointment_id)
        moved = await cal.reschedule(ctx.contact_id, appointment_id, start, now)
    except FullyBooked as exc:
        service = _service(cal, before.service)
        raise ToolError(await _with_alternatives(cal, exc.message, service, start, now)) from None
    except FrontdeskError as exc:
        raise ToolError(exc.message) from None
    _sync(ctx, moved)
    out = moved.local(cal.tz)
    out["previous_start"] = local_iso(before.start, cal.tz)
    return out


async def cancel_appointment(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    cal, now = await _open(ctx)
    appointment_id = _text(args, "appointment_id", limit=40)
    try:
        cancelled = await cal.cancel(ctx.contact_id, appointment_id, now)
    except FrontdeskError as exc:
        raise ToolError(exc.message) from None
    _sync(ctx, cancelled)
    return cancelled.local(cal.tz)


async def list_my_appointments(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    cal, now = await _open(ctx)
    include_past = bool(args.get("include_past", False))
    found = await cal.upcoming(ctx.contact_id, now, include_past=include_past)
    return {"timezone": cal.tz.key, "appointments": [a.local(cal.tz) for a in found]}


_TIME = "ISO-8601 local time of the business, e.g. 2026-05-04T10:30"

TOOLS: list[Tool] = [
    Tool(
        name="check_availability",
        description=(
            "Free appointment start times, in the business's time zone. Give one day ('date') or a "
            "range ('from', 'to'; at most 31 days); without either, the next 7 days. Give 'service' "
            "so only times that fit its duration are listed; without it the answer lists the services."
        ),
        parameters={
            "type": "object",
            "properties": {
                "date": {"type": "string", "description": "a day, YYYY-MM-DD"},
                "from": {"type": "string", "description": "start of a range: YYYY-MM-DD or " + _TIME},
                "to": {
                    "type": "string",
                    "description": "end of a range (that day included): YYYY-MM-DD or " + _TIME,
                },
                "service": {"type": "string", "description": "the service's name"},
                "resource": {
                    "type": "string",
                    "description": "a person or room, if the customer asked for one",
                },
            },
            "additionalProperties": False,
        },
        handler=check_availability,
    ),
    Tool(
        name="book_appointment",
        description=(
            "Book an appointment for the customer in this conversation. Check availability first. "
            "Booking the same service and time again within 5 minutes returns the same booking "
            "('duplicate': true)."
        ),
        parameters={
            "type": "object",
            "properties": {
                "service": {"type": "string", "description": "the service's name"},
                "start": {"type": "string", "description": _TIME},
                "name": {"type": "string", "description": "the customer's name for the booking"},
                "resource": {
                    "type": "string",
                    "description": "a person or room, if the customer asked for one",
                },
                "notes": {"type": "string", "description": "anything the business should know"},
            },
            "required": ["service", "start", "name"],
            "additionalProperties": False,
        },
        handler=book_appointment,
    ),
    Tool(
        name="reschedule_appointment",
        description="Move one of the customer's appointments to a new start time (same service).",
        parameters={
            "type": "object",
            "properties": {
                "appointment_id": {
                    "type": "string",
                    "description": "from book_appointment or list_my_appointments",
                },
                "start": {"type": "string", "description": "the new start, " + _TIME},
            },
            "required": ["appointment_id", "start"],
            "additionalProperties": False,
        },
        handler=reschedule_appointment,
    ),
    Tool(
        name="cancel_appointment",
        description="Cancel one of the customer's upcoming appointments.",
        parameters={
            "type": "object",
            "properties": {
                "appointment_id": {
                    "type": "string",
                    "description": "from book_appointment or list_my_appointments",
                }
            },
            "required": ["appointment_id"],
            "additionalProperties": False,
        },
        handler=cancel_appointment,
    ),
    Tool(
        name="list_my_appointments",
        description="The customer's upcoming appointments (with 'include_past', past ones too).",
        parameters={
            "type": "object",
            "properties": {"include_past": {"type": "boolean", "description": "also list past appointments"}},
            "additionalProperties": False,
        },
        handler=list_my_appointments,
    ),
]
