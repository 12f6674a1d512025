"""Changing configuration: create, update (JSON Merge Patch), delete, and the building blocks the
import (``transfer.py``) shares, inside its one transaction.

Every write is one transaction: the change, its audit row(s) and the tenant's revision bump.
``on_change`` runs after the commit.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.config import agent_secrets, checks, env_policy, operator_only, tenant_secrets
from frontdesk.config import repository as repo
from frontdesk.config import validation as rules
from frontdesk.config.reads import ConfigReads
from frontdesk.config.repository import Kind, kind_of
from frontdesk.errors import BadRequest, ConfigError, ConflictError, Forbidden, NotFound
from frontdesk.model.config import DEFAULT_TENANT
from frontdesk.security.tokens import Principal
from frontdesk.store.tables import mappings

OnChange = Callable[[str, str, dict[str, Any] | None, dict[str, Any] | None], Awaitable[None]]
Change = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]  # kind, action, before, after


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class ConfigWrites(ConfigReads):
    """The writes of ``ConfigService``."""

    on_change: OnChange | None

    async def create(
        self, kind: str, data: dict[str, Any], *, principal: Principal, actor: str | None = None
    ) -> dict[str, Any]:
        """Validate and store a new object; returns its public dict."""
        k = kind_of(kind)
        data = self.prepare(k, self.scoped_data(k, data, principal), None, principal, importing=False)
        model = rules.build(k, data)
        self.check_operator_only(k, model, None, principal)
        pub = repo.public(k, repo.values(k, model, self.secrets))
        async with self._writing(principal, creating=True) as (conn, subjects):
            subjects.append((k, pub))
            await self.check(conn, k, pub, principal, creating=True)
            change = await self.insert(conn, k, model, actor or principal.actor)
        await self.notify([change])
        return pub

    async def update(
        self,
        kind: str,
        object_id: str,
        patch: dict[str, Any],
        *,
        principal: Principal,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Merge ``patch`` into the object, re-validate all of it and store it."""
        k = kind_of(kind)
        if not isinstance(patch, dict):
            raise BadRequest("a patch must be a JSON object")
        patch = {key: v for key, v in patch.items() if key != "credentials_set"}
        # Read, merge and write in one transaction, so two concurrent patches cannot lose one another.
        async with self._writing(principal, creating=False) as (conn, subjects):
            row = await self._visible(conn, k, object_id, principal)
            current = self.full(k, row)
            for field in {k.id_field, "tenant_id"} & patch.keys():
                if patch[field] != current[field]:
                    raise ConfigError(
                        rules.immutable_message(k, field), details=[{"field": field, "message": "immutable"}]
                    )
            merged = self.prepare(k, merge_patch(current, patch), current, principal, importing=False)
            model = rules.build(k, merged)
            self.check_operator_only(k, model, current, principal)
            pub = repo.public(k, repo.values(k, model, self.secrets))
            if model.model_dump(mode="json") == current:
                return pub
            subjects.append((k, pub))
            await self.check(conn, k, pub, principal, creating=False)
            change = await self.replace(conn, k, row, model, actor or principal.actor)
        await self.notify([change])
        return pub

    async def delete(
        self, kind: str, object_id: str, *, principal: Principal, actor: str | None = None
    ) -> None:
        """Delete an object. An agent's or channel's mappings go with it (each audited)."""
        k = kind_of(kind)
        async with self.db.write() as conn:
            row = await self._visible(conn, k, object_id, principal)
            if k.name == "tenant":
                if not principal.is_superuser:
                    raise Forbidden("only a platform admin token can delete tenants")
                if object_id == DEFAULT_TENANT:
                    raise ConfigError("the default tenant cannot be deleted")
            changes = await self.remove(conn, k, row, actor or principal.actor)
        await self.notify(changes)

    # -- building blocks (also used by import, inside its one transaction) ------------------------

    def scoped_data(self, k: Kind, data: Any, principal: Principal) -> dict[str, Any]:
        """``data`` with its tenant filled in and checked against the caller's scope."""
        if not isinstance(data, dict):
            raise BadRequest(f"a {k.name} must be a JSON object")
        data = {key: v for key, v in data.items() if key != "credentials_set"}
        if k.name == "tenant":
            if not principal.is_superuser:
                raise Forbidden("only a platform admin token can create tenants")
            return data
        if data.get("tenant_id") is None:
            data["tenant_id"] = principal.tenant_id or DEFAULT_TENANT
        if isinstance(data["tenant_id"], str) and not principal.can_see(data["tenant_id"]):
            raise NotFound(f"Tenant '{data['tenant_id']}' not found")
        return data

    def check_operator_only(
        self, k: Kind, model: Any, current: dict[str, Any] | None, principal: Principal
    ) -> None:
        """Refuse what only the platform may set (see ``operator_only``) when a tenant's token sets it."""
        operator_only.check(k.name, model.model_dump(mode="json"), current, principal, self.allow())

    def prepare(
        self,
        k: Kind,
        data: dict[str, Any],
        current: dict[str, Any] | None,
        principal: Principal,
        *,
        importing: bool,
    ) -> dict[str, Any]:
        """``data`` with a tenant's view flags (and, importing, its ``${NAME}`` secrets) resolved
        against ``current``; refused if it makes environment references the caller may not make."""
        if k.name == "tenant" and isinstance(data.get("settings"), dict):
            stored = (current or {}).get("settings") or {}
            if importing:
                tenant = str(data.get("tenant_id"))
                settings = tenant_secrets.resolve_import(data["settings"], stored, tenant, principal)
            else:
                settings = tenant_secrets.restore(data["settings"], stored)
            data = {**data, "settings": settings}
        env_policy.check(k.name, data, current, principal)
        return data

    def full(self, k: Kind, row: Any) -> dict[str, Any]:
        """The complete object of a row, credentials decrypted (never leaves the service)."""
        data = repo.public(k, row)
        if k.name == "channel":
            data.pop("credentials_set")
            data["credentials"] = repo.credentials(row, self.secrets)
        elif k.name == "agent":
            data["config"] = agent_secrets.unseal(row._mapping["config"] or {}, self.secrets)
        elif k.name == "tenant":
            data["settings"] = tenant_secrets.unseal(row._mapping["settings"] or {}, self.secrets)
        return {f: data[f] for f in k.fields}

    async def check(
        self, conn: AsyncConnection, k: Kind, pub: dict[str, Any], principal: Principal, *, creating: bool
    ) -> None:
        """Raise the first broken rule for writing ``pub``, judged against what is stored."""
        for item in await checks.find_issues(conn, k, pub, principal.can_see, creating=creating):
            rules.raise_issue(item)

    async def insert(self, conn: AsyncConnection, k: Kind, model: Any, actor: str) -> Change:
        vals = repo.values(k, model, self.secrets)
        await repo.insert(conn, k, vals)
        after = repo.public(k, vals)
        await self._record(conn, k, "create", actor, None, after)
        return (k.name, "create", None, after)

    async def replace(self, conn: AsyncConnection, k: Kind, row: Any, model: Any, actor: str) -> Change:
        vals = repo.values(k, model, self.secrets)
        object_id = vals.pop(k.id_field)
        await repo.update(conn, k, object_id, vals)
        before, after = repo.public(k, row), repo.public(k, {k.id_field: object_id, **vals})
        await self._record(conn, k, "update", actor, before, after)
        return (k.name, "update", before, after)

    async def remove(self, conn: AsyncConnection, k: Kind, row: Any, actor: str) -> builtins.list[Change]:
        changes: builtins.list[Change] = []
        object_id = row._mapping[k.id_field]
        if k.name in ("agent", "channel"):
            mk = repo.KINDS["mapping"]
            column = mappings.c.agent_id if k.name == "agent" else mappings.c.channel_id
            for m in (await conn.execute(sa.select(mappings).where(column == object_id))).all():
                changes += await self.remove(conn, mk, m, actor)
        before = repo.public(k, row)
        await repo.delete(conn, k, object_id)
        await self._record(conn, k, "delete", actor, before, None)
        changes.append((k.name, "delete", before, None))
        return changes

    async def _record(
        self, conn: AsyncConnection, k: Kind, action: str, actor: str, before: dict | None, after: dict | None
    ) -> None:
        obj = after or before or {}
        tenant_id = obj["tenant_id"]
        await repo.write_audit(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            kind=k,
            object_id=obj[k.id_field],
            before=before,
            after=after,
        )
        if not (k.name == "tenant" and action == "delete"):
            await repo.bump_revision(conn, tenant_id)

    async def notify(self, changes: builtins.list[Change]) -> None:
        if self.on_change is None:
            return
        for kind, action, before, after in changes:
            await self.on_change(kind, action, before, after)

    @contextlib.asynccontextmanager
    async def _writing(
        self, principal: Principal, *, creating: bool
    ) -> AsyncIterator[tuple[AsyncConnection, builtins.list[tuple[Kind, dict[str, Any]]]]]:
        """A write transaction whose unique-index violations (a race the checks lost) read as the rule.

        The caller appends what it writes to the yielded list, so a violation can be explained.
        """
        subjects: builtins.list[tuple[Kind, dict[str, Any]]] = []
        try:
            async with self.db.write() as conn:
                yield conn, subjects
        except IntegrityError:
            await self.explain_conflict(subjects, principal, creating=creating)

    async def explain_conflict(
        self, subjects: builtins.list[tuple[Kind, dict[str, Any]]], principal: Principal, *, creating: bool
    ) -> None:
        """After a rolled-back IntegrityError: raise the rule it broke, or a generic 409."""
        async with self.db.read() as conn:
            for k, pub in subjects:
                for item in await checks.find_issues(conn, k, pub, principal.can_see, creating=creating):
                    rules.raise_issue(item)
        raise ConflictError("the change conflicts with another change made at the same time; try again")
