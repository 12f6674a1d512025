"""Export and import of whole configuration documents (the YAML file, ``/api/v1/config/...``).

Document: ``{"version": 1, "tenants": [...], "agents": [...], "channels": [...], "mappings": [...],
"knowledge": [...]}``; every section optional on import.

Credentials never leave the database in clear. Export writes each set credential as a placeholder
``${FRONTDESK_TENANT_<TENANT>__<CHANNEL_ID>_<FIELD>}`` (upper case, other characters as ``_``), so
the platform importing the file elsewhere reads the secret from that environment variable. On
import a credential written ``${NAME}`` is read from the environment only by the platform (admin
token, CLI) and only for the tenant's variables (``env_policy.py``); when it is unset, or the
importer is a tenant, the placeholder its export wrote keeps the stored value (re-importing an
export changes nothing), anything else is refused. A channel without a ``credentials`` key keeps
its stored credentials. Agent secrets (``config.api_key``, ``config.llm.api_key``,
``config.secret``, as ``..._AGENT_<AGENT_ID>_<FIELD>``) and tenant secrets (``tenant_secrets.py``)
go the same way.

Import upserts by id (objects missing from the file are left alone), validates everything against
the database merged with the file first, then writes all of it in one transaction, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from frontdesk.config import agent_secrets, env_policy, tenant_secrets
from frontdesk.config import repository as repo
from frontdesk.config import validation as rules
from frontdesk.config.repository import KINDS, ORDER, Kind
from frontdesk.errors import ConfigError, ConflictError, FrontdeskError, NotFound
from frontdesk.security import env_refs
from frontdesk.security.tokens import Principal

if TYPE_CHECKING:
    from collections.abc import Callable

    from frontdesk.config.service import ConfigService

VERSION = 1
SECTIONS = {
    "tenant": "tenants",
    "agent": "agents",
    "channel": "channels",
    "mapping": "mappings",
    "knowledge": "knowledge",
}


def placeholder(tenant_id: str, channel_id: str, field_name: str) -> str:
    return "${" + env_refs.tenant_variable(tenant_id, channel_id, field_name) + "}"


def legacy_placeholder(channel_id: str, field_name: str) -> str:
    """What exports wrote before the per-tenant prefix (re-importing one keeps the stored value)."""
    return "${FRONTDESK_" + env_refs.legacy_part(channel_id) + "_" + env_refs.legacy_part(field_name) + "}"


def sorted_keys(value: Any) -> Any:
    """Dicts with sorted keys at every level, so the same data always prints the same."""
    if isinstance(value, dict):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value


async def export_doc(service: ConfigService, tenant_id: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": VERSION}
    async with service.db.read() as conn:
        for name in ORDER:
            k = KINDS[name]
            items = []
            for row in await repo.select_page(conn, k, tenant_id, {}, 0, None):
                obj = repo.public(k, row)
                tenant = obj["tenant_id"]
                if name == "channel":
                    obj["credentials"] = {
                        f: placeholder(tenant, obj["channel_id"], f) for f in obj.pop("credentials_set")
                    }
                elif name == "agent":
                    obj["config"] = agent_secrets.export_view(tenant, obj["agent_id"], obj["config"])
                elif name == "tenant":
                    obj["settings"] = tenant_secrets.export_view(tenant, obj["settings"])
                items.append(sorted_keys(obj))
            doc[SECTIONS[name]] = items
    return doc


@dataclass
class Op:
    kind: Kind
    action: str  # create | update | unchanged
    model: Any
    public: dict[str, Any]


@dataclass
class Plan:
    principal: Principal
    doc: Any
    ops: list[Op] = field(default_factory=list)
    errors: list[rules.Issue] = field(default_factory=list)
    warnings: list[rules.Issue] = field(default_factory=list)

    def raise_errors(self) -> None:
        if self.errors:
            first = self.errors[0]["message"]
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise ConfigError(f"import refused, nothing was written: {first}{more}", details=self.errors)

    def result(self, *, dry_run: bool) -> dict[str, Any]:
        counts: dict[str, dict[str, int]] = {a: {} for a in ("created", "updated", "unchanged")}
        for op in self.ops:
            key = {"create": "created", "update": "updated", "unchanged": "unchanged"}[op.action]
            counts[key][op.kind.name] = counts[key].get(op.kind.name, 0) + 1
        changes = [
            {"action": op.action, "object_type": op.kind.name, "object_id": op.public[op.kind.id_field]}
            for op in self.ops
            if op.action != "unchanged"
        ]
        return {
            "dry_run": dry_run,
            "valid": not self.errors,
            **counts,
            "changes": changes,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def check_shape(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ConfigError(
            "a configuration document must be a mapping with sections like 'agents:' and 'channels:'"
        )
    unknown = set(doc) - {"version", *SECTIONS.values()}
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected: version, {', '.join(SECTIONS.values())}"
        )
    if doc.get("version", VERSION) != VERSION:
        raise ConfigError(
            f"unsupported document version {doc.get('version')!r}; this Frontdesk reads version {VERSION}"
        )
    for section in SECTIONS.values():
        if not isinstance(doc.get(section) or [], list):
            raise ConfigError(f"section '{section}' must be a list")
    return doc


async def plan_import(service: ConfigService, doc: Any, principal: Principal) -> Plan:
    """Validate ``doc`` against the database; decide create/update/unchanged for each object."""
    check_shape(doc)
    plan = Plan(principal, doc)
    snap = await service.snapshot()
    seen: set[tuple[str, str]] = set()
    knowledge_tenants: set[str] = set()
    for name in ORDER:
        k = KINDS[name]
        for i, raw in enumerate(doc.get(SECTIONS[name]) or []):
            where = f"{SECTIONS[name]}[{i}]"
            try:
                op = await _plan_one(service, k, raw, principal)
            except (NotFound, ConflictError):
                raise  # scope and ownership: answered exactly as a single write would be
            except FrontdeskError as exc:
                oid = raw.get(k.id_field) if isinstance(raw, dict) else None
                plan.errors.append(
                    rules.issue(_code(exc), f"{where}: {exc.message}", name, str(oid or where))
                )
                continue
            oid = op.public[k.id_field]
            if (name, oid) in seen:
                plan.errors.append(
                    rules.issue(
                        "duplicate_id", f"{where}: {k.label} '{oid}' appears twice in the file", name, oid
                    )
                )
                continue
            seen.add((name, oid))
            plan.ops.append(op)
            if name == "knowledge":
                knowledge_tenants.add(op.public["tenant_id"])
            else:
                snap.setdefault(name, {})[oid] = op.public
    for tenant in sorted(knowledge_tenants - set(snap.get("tenant", {}))):
        plan.errors.append(rules.unknown_tenant("knowledge", "*", tenant))
    scope = None if principal.is_superuser else principal.tenant_id
    found = rules.report(snap, scope=scope, visible=principal.can_see)
    plan.errors += found["errors"]
    plan.warnings = found["warnings"]
    return plan


def _code(exc: FrontdeskError) -> str:
    return "missing_env" if "environment variable" in exc.message else "invalid_object"


async def _plan_one(service: ConfigService, k: Kind, raw: Any, principal: Principal) -> Op:
    if k.name == "tenant":
        data = dict(raw) if isinstance(raw, dict) else raw
        tid = data.get("tenant_id") if isinstance(data, dict) else None
        if not principal.is_superuser and tid != principal.tenant_id:
            raise NotFound(f"Tenant '{tid}' not found")
    else:
        data = service.scoped_data(k, raw, principal)
    object_id = data.get(k.id_field) if isinstance(data, dict) else None
    async with service.db.read() as conn:
        row = await repo.fetch(conn, k, object_id) if isinstance(object_id, str) else None
    current = service.full(k, row) if row is not None else None
    if current is not None and not principal.can_see(current["tenant_id"]):
        raise ConflictError(f"{k.label} '{object_id}' already exists")
    if current is not None and data.get("tenant_id", current["tenant_id"]) != current["tenant_id"]:
        raise ConfigError(
            f"{k.label} '{object_id}' belongs to tenant '{current['tenant_id']}'; tenant_id cannot be changed"
        )
    tenant_id = str(data.get("tenant_id")) if isinstance(data, dict) else ""
    if k.name == "channel":
        stored = current["credentials"] if current else {}
        if "credentials" in data:
            data["credentials"] = resolve_credentials(
                data["credentials"], stored, str(object_id), tenant_id, principal
            )
        else:
            data["credentials"] = stored
    elif k.name == "agent" and isinstance(data, dict) and "config" in data:
        stored = current["config"] if current else {}
        data["config"] = agent_secrets.resolve_import(
            data["config"], stored, str(object_id), tenant_id, principal
        )
    if isinstance(data, dict):
        data = service.prepare(k, data, current, principal, importing=True)
    model = rules.build(k, data)
    service.check_operator_only(k, model, current, principal)
    pub = repo.public(k, repo.values(k, model, service.secrets))
    if current is None:
        action = "create"
    else:
        action = "unchanged" if model.model_dump(mode="json") == current else "update"
    return Op(k, action, model, pub)


def resolve_credentials(
    creds: Any, stored: dict[str, Any], channel_id: str, tenant_id: str, principal: Principal
) -> Any:
    """Each ``${NAME}`` credential resolved as ``env_policy.resolve`` says."""
    if not isinstance(creds, dict):
        return creds  # the model says what is wrong
    return {
        name: env_policy.resolve(
            value,
            where=f"credentials.{name} of channel '{channel_id}'",
            tenant_id=tenant_id,
            principal=principal,
            placeholders=(placeholder(tenant_id, channel_id, name), legacy_placeholder(channel_id, name)),
            stored=stored.get(name),
        )
        for name, value in creds.items()
    }


def _apply_order(ops: list[Op]) -> list[Op]:
    # Free unique slots before taking them: deactivated channels and demoted mappings go first.
    def key(op: Op) -> tuple[int, int]:
        p = op.public
        first = (op.kind.name == "channel" and not p["active"]) or (
            op.kind.name == "mapping" and not p["is_primary"]
        )
        return ORDER.index(op.kind.name), 0 if first else 1

    return sorted((op for op in ops if op.action != "unchanged"), key=key)


async def apply_import(
    service: ConfigService, plan: Plan, actor: str, progress: Callable[[int, int], None] | None
) -> dict[str, Any]:
    ops = _apply_order(plan.ops)
    changes = []
    try:
        async with service.db.write() as conn:
            for done, op in enumerate(ops, 1):
                if op.action == "create":
                    changes.append(await service.insert(conn, op.kind, op.model, actor))
                else:
                    row = await repo.fetch(conn, op.kind, op.public[op.kind.id_field])
                    if row is None:  # deleted since the plan was made: create it again
                        changes.append(await service.insert(conn, op.kind, op.model, actor))
                    else:
                        changes.append(await service.replace(conn, op.kind, row, op.model, actor))
                if progress:
                    progress(done, len(ops))
    except IntegrityError:
        # Someone changed the database between plan and write: say what the file now breaks.
        (await plan_import(service, plan.doc, plan.principal)).raise_errors()
        raise ConflictError(
            "import refused, nothing was written: the database changed meanwhile; try again"
        ) from None
    await service.notify(changes)
    return plan.result(dry_run=False)


async def count_rows(service: ConfigService) -> dict[str, int]:
    """Rows per kind (tests and the CLI use it to show nothing changed)."""
    async with service.db.read() as conn:
        return {
            name: int(
                (await conn.execute(sa.select(sa.func.count()).select_from(KINDS[name].table))).scalar_one()
            )
            for name in ORDER
        }
