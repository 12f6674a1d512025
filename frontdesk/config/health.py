"""Channel health in the validation report: a channel whose provider refused it needs attention."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frontdesk.store.channel_health import report
from frontdesk.store.db import Database


async def annotate(
    db: Database, validation: dict[str, Any], tenant_id: str | None, visible: Callable[[str], bool]
) -> dict[str, Any]:
    """Add each channel's last inbound and send outcome to a validation report, and warn about
    channels whose provider refused their credentials."""
    channels = await report(db, tenant_id, visible)
    validation["channels"] = channels
    for channel_id, health in channels.items():
        if health["needs_attention"]:
            validation["warnings"].append(
                {
                    "code": "channel_needs_attention",
                    "message": f"Channel '{channel_id}' needs attention: {health['attention_reason']}",
                    "object_type": "channel",
                    "object_id": channel_id,
                }
            )
    return validation
