"""Reading configuration: one object, pages and counts, the route of a phone number, snapshots,
the audit log; each scoped to what the caller's token may see."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.config import repository as repo
from frontdesk.config.repository import Kind, kind_of
from frontdesk.errors import BadRequest, ConfigError, NotFound
from frontdesk.model.phone import normalize_e164
from frontdesk.security.secrets import SecretBox
from frontdesk.security.ssrf import AllowList
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store.db import Database


def scope(principal: Principal, tenant_id: str | None) -> str | None:
    """The tenant a call is about; a tenant token naming another tenant gets 404."""
    if principal.is_superuser:
        return tenant_id
    if tenant_id is not None and tenant_id != principal.tenant_id:
        raise NotFound(f"Tenant '{tenant_id}' not found")
    return principal.tenant_id


class ConfigReads:
    """The reads of ``ConfigService`` (``service.py`` builds it with its database and secrets)."""

    db: Database
    secrets: SecretBox
    allow: Callable[[], AllowList]

    async def get(self, kind: str, object_id: str, *, principal: Principal) -> dict[str, Any]:
        """One object as its public dict; NotFound if missing or of another tenant."""
        k = kind_of(kind)
        async with self.db.read() as conn:
            return repo.public(k, await self._visible(conn, k, object_id, principal))

    async def list(
        self,
        kind: str,
        /,
        *,
        principal: Principal,
        tenant_id: str | None = None,
        skip: int = 0,
        limit: int | None = 100,
        **filters: Any,
    ) -> builtins.list[dict[str, Any]]:
        """A page of objects ordered by id; ``limit=None`` means all."""
        k, tenant, filters = self._list_args(kind, principal, tenant_id, filters)
        async with self.db.read() as conn:
            rows = await repo.select_page(conn, k, tenant, filters, max(skip, 0), limit)
        return [repo.public(k, r) for r in rows]

    async def count(
        self, kind: str, /, *, principal: Principal, tenant_id: str | None = None, **filters: Any
    ) -> int:
        k, tenant, filters = self._list_args(kind, principal, tenant_id, filters)
        async with self.db.read() as conn:
            return await repo.count(conn, k, tenant, filters)

    def _list_args(
        self, kind: str, principal: Principal, tenant_id: str | None, filters: dict[str, Any]
    ) -> tuple[Kind, str | None, dict[str, Any]]:
        k = kind_of(kind)
        unknown = set(filters) - set(k.filters)
        if unknown:
            allowed = ", ".join(k.filters) or "none"
            raise BadRequest(
                f"unknown filter(s) for {k.name}: {', '.join(sorted(unknown))} (allowed: {allowed})"
            )
        return k, scope(principal, tenant_id), filters

    async def get_agent_for_phone(
        self, phone: str, *, principal: Principal = SYSTEM
    ) -> dict[str, Any] | None:
        """The agent answering ``phone``: its active channel's primary mapping, else the lowest priority."""
        route = await self.route_for_phone(phone, principal=principal)
        return route["agent"] if route else None

    async def route_for_phone(self, phone: str, *, principal: Principal = SYSTEM) -> dict[str, Any] | None:
        """``{"agent", "channel", "mapping"}`` public dicts for ``phone``, or None."""
        try:
            number = normalize_e164(phone)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        tenant = None if principal.is_superuser else principal.tenant_id
        async with self.db.read() as conn:
            found = await repo.route_rows(conn, number, tenant)
        if found is None:
            return None
        channel, mapping, agent = found
        k = repo.KINDS
        return {
            "agent": repo.public(k["agent"], agent),
            "channel": repo.public(k["channel"], channel),
            "mapping": repo.public(k["mapping"], mapping),
        }

    async def snapshot(self, tenant_id: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """``{kind: {id: public dict}}`` for tenants, agents, channels and mappings."""
        async with self.db.read() as conn:
            rows = await repo.snapshot_rows(conn, tenant_id)
        return {
            name: {r._mapping[repo.KINDS[name].id_field]: repo.public(repo.KINDS[name], r) for r in rs}
            for name, rs in rows.items()
        }

    async def audit(
        self,
        tenant_id: str | None = None,
        skip: int = 0,
        limit: int = 100,
        *,
        principal: Principal,
        object_type: str | None = None,
        object_id: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Audit entries, newest first, and their total."""
        tenant = scope(principal, tenant_id)
        async with self.db.read() as conn:
            filters = {"object_type": object_type, "object_id": object_id}
            return await repo.audit_page(conn, tenant, max(skip, 0), limit, filters)

    async def _visible(self, conn: AsyncConnection, k: Kind, object_id: str, principal: Principal) -> Any:
        row = await repo.fetch(conn, k, object_id)
        if row is None or not principal.can_see(row._mapping["tenant_id"]):
            raise NotFound(f"{k.label} '{object_id}' not found")
        return row
