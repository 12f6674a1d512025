"""Appointments: the booking list, a tenant's calendar status and feed URL, and the ICS feed itself.

The feed (``GET /api/v1/tenants/{tenant_id}/calendar.ics?token=…``) is the one route here without
a Bearer token: calendar apps subscribe by URL, so the URL carries a per-tenant feed secret
(``frontdesk/calendar/feed.py``). A wrong or missing secret is 404, like an unknown tenant.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from frontdesk.api.deps import get_principal, get_runtime, scope_tenant
from frontdesk.api.pagination import Page, pagination
from frontdesk.calendar import config as calendar_config
from frontdesk.calendar import feed, queries, state
from frontdesk.calendar.appointment import Appointment
from frontdesk.calendar.times import local_iso, parse_bound, zone
from frontdesk.errors import FrontdeskError, NotFound
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store import appointments, tenants
from frontdesk.store.db import as_utc

router = APIRouter(prefix="/api/v1", tags=["appointments"])


def _iso(value: Any) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value is not None else None


def _item(row: Any) -> dict[str, Any]:
    appt = Appointment.from_row(row)
    tz = zone(row.timezone)
    return {
        "appointment_id": appt.appointment_id,
        "tenant_id": appt.tenant_id,
        "contact_id": appt.contact_id,
        "contact_name": row.display_name,
        "conversation_id": appt.conversation_id,
        "service": appt.service,
        "resource": appt.resource,
        "name": appt.customer_name,
        "notes": appt.notes,
        "start": local_iso(appt.start, tz),
        "end": local_iso(appt.end, tz),
        "timezone": tz.key,
        "status": appt.status,
        "sync": {
            "status": appt.sync_status,
            "error": appt.sync_error,
            "attempts": appt.sync_attempts,
            "external_id": appt.external_id,
        },
        "created_at": _iso(appt.created_at),
        "updated_at": _iso(appt.updated_at),
    }


async def _tenant(rt: Runtime, principal: Principal, tenant_id: str) -> Any:
    scope_tenant(principal, tenant_id)
    row = await tenants.get(rt.db, tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id!r} not found")
    return row


@router.get("/appointments", summary="List appointments (filters: from, to, contact_id, status)")
async def list_appointments(
    tenant_id: str | None = None,
    from_: str | None = Query(
        None, alias="from", description="YYYY-MM-DD or ISO date-time (start at or after)"
    ),
    to: str | None = Query(
        None, description="YYYY-MM-DD (that day included) or ISO date-time (start before)"
    ),
    contact_id: str | None = None,
    status: str | None = Query(None, pattern="^(booked|cancelled)$"),
    sync_status: str | None = Query(None, pattern="^(pending|synced|failed)$"),
    pg: Page = Depends(pagination(100, 1000)),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    tenant = scope_tenant(principal, tenant_id)
    # Dates without a zone are the tenant's local days; across all tenants (admin), UTC days.
    tz = zone((await _tenant(rt, principal, tenant)).timezone if tenant else "UTC")
    total, rows = await appointments.page(
        rt.db,
        tenant_id=tenant,
        contact_id=contact_id,
        status=status,
        sync_status=sync_status,
        start_from=parse_bound(from_, tz, end=False, what="from") if from_ else None,
        start_before=parse_bound(to, tz, end=True, what="to") if to else None,
        skip=pg.skip,
        limit=pg.limit,
    )
    return {"items": [_item(r) for r in rows], "total": total, "skip": pg.skip, "limit": pg.limit}


@router.get("/appointments/{appointment_id}", summary="Get one appointment")
async def get_appointment(
    appointment_id: str, principal: Principal = Depends(get_principal), rt: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    row = await appointments.get(rt.db, appointment_id)
    if row is None or not principal.can_see(row.tenant_id):
        raise NotFound(f"appointment {appointment_id!r} not found")
    return _item(row)


def _feed_url(request: Request, rt: Runtime, tenant_id: str, token: str) -> str:
    base = (rt.settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/api/v1/tenants/{tenant_id}/calendar.ics?token={token}"


async def _calendar_status(request: Request, rt: Runtime, tenant: Any, token: str) -> dict[str, Any]:
    cal = (tenant.settings or {}).get("calendar")
    configured, error, backend = bool(cal), None, None
    if cal:
        try:
            backend = calendar_config.load(tenant.settings).sync_backend
        except FrontdeskError as exc:
            error = exc.message
    summary = await rt.db.run_read(lambda c: queries.sync_summary(c, tenant.tenant_id))
    row = await rt.db.run_read(lambda c: state.read(c, tenant.tenant_id))
    return {
        "tenant_id": tenant.tenant_id,
        "timezone": tenant.timezone,
        "configured": configured,
        "config_error": error,
        "feed_url": _feed_url(request, rt, tenant.tenant_id, token),
        "sync": {
            "backend": backend,
            **summary,
            "busy": {
                "synced_at": _iso(row.busy_synced_at) if row else None,
                "error": row.busy_error if row else None,
                "attempts": row.busy_attempts if row else 0,
            },
        },
    }


@router.get("/tenants/{tenant_id}/calendar", summary="The tenant's calendar: feed URL and sync status")
async def calendar_status(
    tenant_id: str,
    request: Request,
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    tenant = await _tenant(rt, principal, tenant_id)
    token = await feed.feed_token(rt.db, rt.secrets, tenant_id)
    return await _calendar_status(request, rt, tenant, token)


@router.post("/tenants/{tenant_id}/calendar/feed-token", summary="Replace the feed URL's secret")
async def rotate_feed_token(
    tenant_id: str,
    request: Request,
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    tenant = await _tenant(rt, principal, tenant_id)
    token = await feed.feed_token(rt.db, rt.secrets, tenant_id, rotate=True)
    return await _calendar_status(request, rt, tenant, token)


@router.post("/tenants/{tenant_id}/calendar/sync", summary="Retry failed calendar writes now")
async def retry_sync(
    tenant_id: str,
    request: Request,
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    tenant = await _tenant(rt, principal, tenant_id)
    retried = await rt.calendar_sync.retry_now(tenant_id)
    token = await feed.feed_token(rt.db, rt.secrets, tenant_id)
    return {"retried": retried, **(await _calendar_status(request, rt, tenant, token))}


@router.get(
    "/tenants/{tenant_id}/calendar.ics",
    summary="ICS feed of the tenant's bookings (secret URL)",
    response_class=Response,
    responses={
        200: {"description": "iCalendar", "content": {"text/calendar": {"schema": {"type": "string"}}}}
    },
)
async def calendar_feed(tenant_id: str, token: str = "", rt: Runtime = Depends(get_runtime)) -> Response:
    if not await feed.verify(rt.db, tenant_id, token):
        raise NotFound(f"tenant {tenant_id!r} not found")
    row = await tenants.get(rt.db, tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id!r} not found")
    body = await feed.document(rt.db, tenant_id, row.name, row.timezone)
    headers = {
        "Cache-Control": "private, max-age=300",
        "Content-Disposition": f'inline; filename="{tenant_id}.ics"',
    }
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
