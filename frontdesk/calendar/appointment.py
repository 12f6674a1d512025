"""An appointment as the rest of the code sees it: a frozen value with UTC-aware times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from frontdesk.store.db import as_utc

BOOKED = "booked"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Appointment:
    appointment_id: str
    tenant_id: str
    contact_id: str
    conversation_id: str | None
    service: str
    resource: str | None
    customer_name: str
    notes: str
    start: datetime
    end: datetime
    status: str
    revision: int
    sync_status: str | None
    sync_error: str | None
    sync_attempts: int
    external_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Appointment:
        m = row._mapping
        return cls(
            appointment_id=m["appointment_id"],
            tenant_id=m["tenant_id"],
            contact_id=m["contact_id"],
            conversation_id=m["conversation_id"],
            service=m["service"],
            resource=m["resource"],
            customer_name=m["customer_name"],
            notes=m["notes"],
            start=as_utc(m["start_at"]),
            end=as_utc(m["end_at"]),
            status=m["status"],
            revision=m["revision"],
            sync_status=m["sync_status"],
            sync_error=m["sync_error"],
            sync_attempts=m["sync_attempts"],
            external_id=m["external_id"],
            created_at=as_utc(m["created_at"]),
            updated_at=as_utc(m["updated_at"]),
        )

    @property
    def uid(self) -> str:
        """The iCalendar UID of its event, in the ICS feed and on a CalDAV server."""
        return f"{self.appointment_id}@frontdesk"

    def local(self, tz: ZoneInfo) -> dict[str, Any]:
        """The compact view the agent tools return: times in the tenant's zone, with the offset."""
        out: dict[str, Any] = {
            "appointment_id": self.appointment_id,
            "service": self.service,
            "start": self.start.astimezone(tz).isoformat(timespec="seconds"),
            "end": self.end.astimezone(tz).isoformat(timespec="seconds"),
            "status": self.status,
            "name": self.customer_name,
        }
        if self.resource:
            out["with"] = self.resource
        return out
