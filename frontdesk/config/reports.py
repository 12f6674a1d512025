"""The configuration's reports: the validation report (with the channels' health) and statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frontdesk.config import repository as repo
from frontdesk.config import validation as rules
from frontdesk.config.reads import ConfigReads, scope
from frontdesk.config.stats import compute
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store.channel_health import report as health_report
from frontdesk.store.db import Database


class ConfigReports(ConfigReads):
    """The reports of ``ConfigService``."""

    async def validate(
        self, tenant_id: str | None = None, *, principal: Principal = SYSTEM
    ) -> dict[str, Any]:
        """The validation report: ``{"valid", "errors", "warnings", "summary"}``."""
        tenant = scope(principal, tenant_id)
        snap = await self.snapshot()  # all tenants: phone numbers and routing keys are global
        async with self.db.read() as conn:
            counts = await repo.knowledge_tenants(conn, tenant)
        report = rules.report(
            snap,
            scope=tenant,
            visible=principal.can_see,
            knowledge=counts,
            extra_errors=rules.stored_errors(snap),
        )
        return await annotate(self.db, report, tenant, principal.can_see)

    async def stats(self, tenant_id: str | None = None, *, principal: Principal = SYSTEM) -> dict[str, Any]:
        """Counts by kind/status/type/provider, and the active routes (mappings of active channels)."""
        tenant = scope(principal, tenant_id)
        snap = await self.snapshot(tenant)
        async with self.db.read() as conn:
            counts = await repo.knowledge_tenants(conn, tenant)
        return compute(snap, sum(counts.values()))


async def annotate(
    db: Database, validation: dict[str, Any], tenant_id: str | None, visible: Callable[[str], bool]
) -> dict[str, Any]:
    """Add each channel's last inbound and send outcome to a validation report, and warn about
    channels whose provider refused their credentials."""
    channels = await health_report(db, tenant_id, visible)
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
