"""ConfigService: the one way in for configuration changes, whatever the interface.

REST, the Python API, YAML import and the CLI all call this class, so they share the rules
(``validation.py``), the tenant scoping and the audit log. Every write is one transaction: the
change, its audit row(s) and the tenant's revision bump. ``on_change`` runs after the commit.

Updates are JSON Merge Patch (RFC 7396): objects merge key by key, ``null`` removes a key (so
``{"credentials": {"token": null}}`` unsets one credential), any other value replaces.

The class is put together from one module per seam:

    reads.py      get, list, count, the route of a phone number, snapshots, the audit log
    reports.py    the validation report and statistics
    writes.py     create, update, delete, and the building blocks the import shares
    transfer.py   export and import (YAML/JSON documents), called from here
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frontdesk.config.reads import scope
from frontdesk.config.reports import ConfigReports
from frontdesk.config.transfer import apply_import, export_doc, plan_import
from frontdesk.config.writes import ConfigWrites, OnChange
from frontdesk.security.secrets import SecretBox
from frontdesk.security.ssrf import AllowList
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store.db import Database


class ConfigService(ConfigReports, ConfigWrites):
    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        on_change: OnChange | None = None,
        allow: Callable[[], AllowList] = AllowList,
    ) -> None:
        self.db = db
        self.secrets = secrets
        self.on_change = on_change
        self.allow = allow  # the operator's outbound allow-list (operator-only settings)

    # -- import and export (transfer.py) ----------------------------------------------------------

    async def export(self, tenant_id: str | None = None, *, principal: Principal = SYSTEM) -> dict[str, Any]:
        """The configuration as a YAML/JSON document (credentials as ``${ENV}`` placeholders)."""
        return await export_doc(self, scope(principal, tenant_id))

    async def check_import(self, doc: Any, *, principal: Principal = SYSTEM) -> dict[str, Any]:
        """What importing ``doc`` would do, and its validation report; writes nothing."""
        return (await plan_import(self, doc, principal)).result(dry_run=True)

    async def import_(
        self,
        doc: Any,
        *,
        principal: Principal = SYSTEM,
        dry_run: bool = False,
        actor: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Upsert every object of ``doc`` by id, all or nothing, after validating all of it."""
        plan = await plan_import(self, doc, principal)
        plan.raise_errors()
        if dry_run:
            return plan.result(dry_run=True)
        return await apply_import(self, plan, actor or principal.actor, progress)
