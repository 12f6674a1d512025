"""Test helpers: a tenant with a calendar, contacts, and a ToolContext as a turn would build it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from frontdesk.agents.tools import BUILTIN, ToolContext
from frontdesk.model.ids import new_id
from frontdesk.security.tokens import SYSTEM
from frontdesk.store.db import utcnow
from frontdesk.store.tables import contacts

TZ = "Europe/Paris"
PARIS = ZoneInfo(TZ)


def calendar_settings(**changes: Any) -> dict[str, Any]:
    cal = {
        "services": [
            {"name": "Haircut", "duration_minutes": 30, "price": 25},
            {"name": "Colour", "duration_minutes": 90, "price": 80},
        ],
        "hours": {
            "mon": ["09:00-12:00", "13:00-17:00"],
            "tue": ["09:00-17:00"],
            "wed": ["09:00-17:00"],
            "thu": ["09:00-17:00"],
            "fri": ["09:00-17:00"],
            "sat": ["10:00-14:00"],
        },
        "slot_minutes": 30,
        "max_concurrent": 1,
    }
    cal.update(changes)
    return cal


def next_weekday(weekday: int, after_days: int = 2) -> date:
    """The first ``weekday`` (0 = Monday) at least ``after_days`` from today in Paris."""
    day = datetime.now(PARIS).date() + timedelta(days=after_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def at(day: date, hhmm: str) -> str:
    """A naive local ISO time, the way a model writes it."""
    return f"{day.isoformat()}T{hhmm}"


def instant(day: date, hhmm: str) -> datetime:
    return datetime.fromisoformat(at(day, hhmm)).replace(tzinfo=PARIS).astimezone(UTC)


async def make_tenant(rt: Any, tenant_id: str = "salon", **calendar: Any) -> str:
    await rt.config.create(
        "tenant",
        {
            "tenant_id": tenant_id,
            "name": tenant_id.title(),
            "timezone": TZ,
            "settings": {"calendar": calendar_settings(**calendar)},
        },
        principal=SYSTEM,
    )
    return tenant_id


async def set_calendar(rt: Any, tenant_id: str, **calendar: Any) -> None:
    await rt.config.update(
        "tenant", tenant_id, {"settings": {"calendar": calendar_settings(**calendar)}}, principal=SYSTEM
    )


async def make_contact(rt: Any, tenant_id: str, name: str = "Customer") -> str:
    contact_id = new_id("ct")
    async with rt.db.write() as conn:
        await conn.execute(
            contacts.insert().values(
                contact_id=contact_id,
                tenant_id=tenant_id,
                display_name=name,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return contact_id


def tool_context(rt: Any, tenant_id: str, contact_id: str, now: datetime | None = None) -> ToolContext:
    return ToolContext(
        deps=rt,
        tenant_id=tenant_id,
        agent_id="agent_1",
        conversation_id=new_id("conv"),
        contact_id=contact_id,
        channel_id="web_1",
        now=now.astimezone(PARIS) if now else None,
    )


async def call(ctx: ToolContext, tool: str, **args: Any) -> Any:
    return await BUILTIN[tool].handler(ctx, args)
