"""The configuration's reports: the validation report (with the channels' health) and statistics."""

from __future__ import annotations

from typing import Any

from frontdesk.config import repository as repo
from frontdesk.config import validation as rules
from frontdesk.config.reads import ConfigReads, scope
from frontdesk.config.stats import compute
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store import channel_health


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
        return await channel_health.annotate(self.db, report, tenant, principal.can_see)

    async def stats(self, tenant_id: str | None = None, *, principal: Principal = SYSTEM) -> dict[str, Any]:
        """Counts by kind/status/type/provider, and the active routes (mappings of active channels)."""
        tenant = scope(principal, tenant_id)
        snap = await self.snapshot(tenant)
        async with self.db.read() as conn:
            counts = await repo.knowledge_tenants(conn, tenant)
        return compute(snap, sum(counts.values()))
