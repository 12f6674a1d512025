"""ConfigService: the one way in for configuration changes, whatever the interface.

REST, the Python API, YAML import and the CLI all call this class, so they share the rules
(``validation.py``), the tenant scoping and the audit log. Every write is one transaction: the
change, its audit row(s) and the tenant's revision bump. ``on_change`` runs after the commit.

Updates are JSON Merge Patch (RFC 7396): objects merge key by key, ``null`` removes a key (so
``{"credentials": {"token": null}}`` unsets one credential), any other value replaces.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.config import agent_secrets, env_policy, operator_only, tenant_secrets
from frontdesk.config import repository as repo
from frontdesk.config import validation as rules
from frontdesk.config.repository import Kind, kind_of
from frontdesk.errors import BadRequest, ConfigError, ConflictError, Forbidden, NotFound
from frontdesk.model.config import DEFAULT_TENANT
from frontdesk.model.phone import normalize_e164
from frontdesk.security.secrets import SecretBox
from frontdesk.security.ssrf import AllowList
from frontdesk.security.tokens import SYSTEM, Principal
from frontdesk.store import channel_health
from frontdesk.store.db import Database
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


def scope(principal: Principal, tenant_id: str | None) -> str | None:
    """The tenant a call is about; a tenant token naming another tenant gets 404."""
    if principal.is_admin:
        return tenant_id
    if tenant_id is not None and tenant_id != principal.tenant_id:
        raise NotFound(f"Tenant '{tenant_id}' not found")
    return principal.tenant_id


class ConfigService:
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

    # -- reads ------------------------------------------------------------------------------------

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
        tenant = None if principal.is_admin else principal.tenant_id
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
        from frontdesk.config.stats import compute

        tenant = scope(principal, tenant_id)
        snap = await self.snapshot(tenant)
        async with self.db.read() as conn:
            counts = await repo.knowledge_tenants(conn, tenant)
        return compute(snap, sum(counts.values()))

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

    # -- writes -----------------------------------------------------------------------------------

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
                if not principal.is_admin:
                    raise Forbidden("only a platform admin token can delete tenants")
                if object_id == DEFAULT_TENANT:
                    raise ConfigError("the default tenant cannot be deleted")
            changes = await self.remove(conn, k, row, actor or principal.actor)
        await self.notify(changes)

    async def export(self, tenant_id: str | None = None, *, principal: Principal = SYSTEM) -> dict[str, Any]:
        """The configuration as a YAML/JSON document (credentials as ``${ENV}`` placeholders)."""
        from frontdesk.config.transfer import export_doc

        return await export_doc(self, scope(principal, tenant_id))

    async def check_import(self, doc: Any, *, principal: Principal = SYSTEM) -> dict[str, Any]:
        """What importing ``doc`` would do, and its validation report; writes nothing."""
        from frontdesk.config.transfer import plan_import

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
        from frontdesk.config.transfer import apply_import, plan_import

        plan = await plan_import(self, doc, principal)
        plan.raise_errors()
        if dry_run:
            return plan.result(dry_run=True)
        return await apply_import(self, plan, actor or principal.actor, progress)

    # -- building blocks (also used by import, inside its one transaction) ------------------------

    def scoped_data(self, k: Kind, data: Any, principal: Principal) -> dict[str, Any]:
        """``data`` with its tenant filled in and checked against the caller's scope."""
        if not isinstance(data, dict):
            raise BadRequest(f"a {k.name} must be a JSON object")
        data = {key: v for key, v in data.items() if key != "credentials_set"}
        if k.name == "tenant":
            if not principal.is_admin:
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
        from frontdesk.config.checks import find_issues

        for item in await find_issues(conn, k, pub, principal.can_see, creating=creating):
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

    async def _visible(self, conn: AsyncConnection, k: Kind, object_id: str, principal: Principal) -> Any:
        row = await repo.fetch(conn, k, object_id)
        if row is None or not principal.can_see(row._mapping["tenant_id"]):
            raise NotFound(f"{k.label} '{object_id}' not found")
        return row

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
        from frontdesk.config.checks import find_issues

        async with self.db.read() as conn:
            for k, pub in subjects:
                for item in await find_issues(conn, k, pub, principal.can_see, creating=creating):
                    rules.raise_issue(item)
        raise ConflictError("the change conflicts with another change made at the same time; try again")
