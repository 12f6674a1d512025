"""The inbox's event log: what people watching a tenant's conversations are told, in order.

Whatever changes a conversation for its people (a message, a review, an assignment) adds its event
with ``event_insert`` in the same transaction as the change, so an event exists exactly when the
change committed. The live stream (``GET /api/v1/inbox/stream``) and the tenant's event webhooks
read the log by increasing ``id``; a reconnect with ``Last-Event-ID`` reads on from there.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from frontdesk.store.db import utcnow
from frontdesk.store.people_tables import inbox_events

EventType = Literal[
    "conversation.updated", "message.created", "review.created", "review.decided", "conversation.assigned"
]
EVENT_TYPES: tuple[EventType, ...] = (
    "conversation.updated",
    "message.created",
    "review.created",
    "review.decided",
    "conversation.assigned",
)


def event_insert(tenant_id: str, type: EventType, data: dict[str, Any]) -> sa.Insert:
    """The statement adding one event; run it on the connection of the change it tells of."""
    return inbox_events.insert().values(tenant_id=tenant_id, type=type, data=data, created_at=utcnow())
