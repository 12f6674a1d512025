"""Secrets inside a tenant's ``settings``: encrypted at rest, shown only as "set" in every view.

The calendar's password and tokens (``calendar.caldav.password``, ``calendar.google.access_token``,
``refresh_token``, ``client_secret``, the service account's ``private_key``) are sealed in place
(``secret_fields.py``) and viewed as ``<name>_set: true``. An HTTP action's header values may
carry a key written as text, so all of them are sealed, and a view shows ``headers_set`` with
their names instead of ``headers``.

Views (REST, Python API, export, audit log) never carry a value. Written back (a PATCH that
replaces ``http_actions``, an import of an export), a flag without its value keeps the stored one
(``restore``). An export writes ``${FRONTDESK_TENANT_<TENANT>__SETTINGS_<FIELD>}`` (headers:
``..._ACTION_<NAME>_<HEADER>``), which an import resolves as ``env_policy.resolve`` says. Code that
uses a secret opens it where it needs it (``unseal``, ``for_use`` for the calendar).
"""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa

from frontdesk.config import env_policy
from frontdesk.config import secret_fields as sf
from frontdesk.errors import ConfigError
from frontdesk.security import env_refs
from frontdesk.security.secrets import SecretBox
from frontdesk.security.tokens import Principal
from frontdesk.store.db import Database
from frontdesk.store.tables import tenants

SECRET_FIELDS = (
    "calendar.caldav.password",
    "calendar.google.access_token",
    "calendar.google.refresh_token",
    "calendar.google.client_secret",
    "calendar.google.service_account.private_key",
)
HEADERS_SET = "headers_set"


def _actions(settings: Any) -> list[dict[str, Any]]:
    actions = settings.get("http_actions") if isinstance(settings, dict) else None
    return [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []


def _headers(action: dict[str, Any]) -> dict[str, Any]:
    headers = action.get("headers")
    return headers if isinstance(headers, dict) else {}


def strip_markers(settings: Any) -> Any:
    """``settings`` without the flags of a view."""
    out = sf.strip_markers(settings, SECRET_FIELDS)
    for action in _actions(out):
        action.pop(HEADERS_SET, None)
    return out


def seal(settings: Any, box: SecretBox) -> Any:
    """``settings`` as stored."""
    out = sf.seal(strip_markers(settings), SECRET_FIELDS, box)
    for action in _actions(out):
        for name, value in _headers(action).items():
            if value not in (None, ""):
                action["headers"][name] = sf.seal_value(value, box)
    return out


def unseal(settings: Any, box: SecretBox) -> Any:
    """``settings`` in clear (the service's full object; the calendar connection)."""
    out = sf.unseal(settings, SECRET_FIELDS, box)
    for action in _actions(out):
        if "headers" in action:
            action["headers"] = open_headers(_headers(action), box)
    return out


def open_headers(headers: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    return {name: sf.open_value(value, box) for name, value in headers.items()}


def mask(settings: Any) -> Any:
    """The view of ``settings``."""
    out = sf.mask(strip_markers(settings), SECRET_FIELDS)
    for action in _actions(out):
        if "headers" in action:
            action[HEADERS_SET] = sorted(n for n, v in _headers(action).items() if v not in (None, ""))
            del action["headers"]
    return out


def restore(settings: Any, stored: Any) -> Any:
    """``settings`` with each flag of a view replaced by the stored value it stands for.

    ``stored`` is the tenant's current settings in clear. An action's stored headers are found by
    the action's name. A flag with nothing stored behind it is refused: the value must be given.
    """
    if not isinstance(settings, dict):
        return settings
    out = copy.deepcopy(settings)
    for field in SECRET_FIELDS:
        node, leaf = sf.parent(out, field)
        if node is None or not node.pop(sf.marker(leaf), False) or node.get(leaf) not in (None, ""):
            continue
        kept_node, _ = sf.parent(stored or {}, field)
        kept = kept_node.get(leaf) if kept_node is not None else None
        if kept in (None, ""):
            raise ConfigError(f"settings.{field} is marked as set, but no value is stored; give the value")
        node[leaf] = kept
    before = {a.get("name"): _headers(a) for a in _actions(stored)}
    for i, action in enumerate(_actions(out)):
        names = action.pop(HEADERS_SET, None)
        if not isinstance(names, list):
            continue
        headers = dict(_headers(action))
        for name in names:
            if headers.get(name) in (None, ""):
                kept = before.get(action.get("name"), {}).get(name)
                if kept in (None, ""):
                    raise ConfigError(
                        f"settings.http_actions[{i}].headers_set names {name!r}, but no value is stored "
                        f"for it; give headers.{name}"
                    )
                headers[name] = kept
        action["headers"] = headers
    return out


def placeholder(tenant_id: str, *parts: str) -> str:
    return "${" + env_refs.tenant_variable(tenant_id, *parts) + "}"


def _header_placeholder(tenant_id: str, action: dict[str, Any], header: str) -> str:
    return placeholder(tenant_id, "action", str(action.get("name")), header)


def export_view(tenant_id: str, settings: Any) -> Any:
    """A masked ``settings`` as exported: each flag becomes its secret's placeholder."""
    if not isinstance(settings, dict):
        return settings
    out = copy.deepcopy(settings)
    for field in SECRET_FIELDS:
        node, leaf = sf.parent(out, field)
        if node is not None and node.pop(sf.marker(leaf), False):
            node[leaf] = placeholder(tenant_id, "settings", field)
    for action in _actions(out):
        names = action.pop(HEADERS_SET, None)
        if isinstance(names, list):
            action["headers"] = {h: _header_placeholder(tenant_id, action, h) for h in names}
    return out


def resolve_import(settings: Any, stored: Any, tenant_id: str, principal: Principal) -> Any:
    """Imported ``settings``: view flags restored, each ``${NAME}`` secret resolved by ``env_policy``."""
    out = restore(settings, stored)
    if not isinstance(out, dict):
        return out

    def resolve(value: Any, where: str, ph: str, kept: Any) -> Any:
        return env_policy.resolve(
            value, where=where, tenant_id=tenant_id, principal=principal, placeholders=(ph,), stored=kept
        )

    for field in SECRET_FIELDS:
        node, leaf = sf.parent(out, field)
        if node is not None and node.get(leaf) is not None:
            kept_node, _ = sf.parent(stored or {}, field)
            kept = kept_node.get(leaf) if kept_node is not None else None
            ph = placeholder(tenant_id, "settings", field)
            node[leaf] = resolve(node[leaf], f"settings.{field} of tenant '{tenant_id}'", ph, kept)
    before = {a.get("name"): _headers(a) for a in _actions(stored)}
    for action in _actions(out):
        headers = _headers(action)
        for h, value in headers.items():
            where = f"settings.http_actions[{action.get('name')}].headers.{h} of tenant '{tenant_id}'"
            kept = before.get(action.get("name"), {}).get(h)
            headers[h] = resolve(value, where, _header_placeholder(tenant_id, action, h), kept)
    return out


def for_use(settings: dict[str, Any], tenant_id: str, box: SecretBox) -> dict[str, Any]:
    """Settings with their secrets in clear and each calendar ``*_env`` replaced by its value.

    The variable is read under the rule of ``security/env_refs.py`` (checked again here: stored
    settings may predate it), so the calendar models never read the environment themselves.
    """
    out = unseal(settings, box)
    calendar = out.get("calendar") if isinstance(out, dict) else None
    for block_name, key in env_policy.CALENDAR_ENV_FIELDS:
        block = calendar.get(block_name) if isinstance(calendar, dict) else None
        if not isinstance(block, dict):
            continue
        name = block.pop(key, "")
        if not name:
            continue
        value = env_refs.read(name, tenant_id)
        if value is None:
            raise ConfigError(
                f"calendar {block_name}.{key}: environment variable {name} is not set or not this "
                f"tenant's (variables named {env_refs.tenant_prefix(tenant_id)}<NAME>)"
            )
        block[key.removesuffix("_env")] = value
    return out


def has_clear(settings: Any) -> bool:
    """Whether stored ``settings`` still hold a secret in clear (written before they were sealed)."""
    for field in SECRET_FIELDS:
        node, leaf = sf.parent(settings, field)
        if node is not None and node.get(leaf) not in (None, "") and not sf.is_sealed(node[leaf]):
            return True
    return any(
        v not in (None, "") and not sf.is_sealed(v) for a in _actions(settings) for v in _headers(a).values()
    )


async def seal_stored(db: Database, box: SecretBox) -> int:
    """Seal the secrets that tenants' stored settings hold in clear; how many tenants were rewritten.

    Runs at every start (cheap: one read of the tenants table). The audit log's copies were
    redacted by migration 0006.
    """
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(tenants.c.tenant_id, tenants.c.settings))).all()
    clear = [(tid, s) for tid, s in rows if has_clear(s)]
    if clear:
        async with db.write() as conn:
            for tenant_id, settings in clear:
                opened = unseal(settings, box)  # a mix of sealed and clear values: all clear first
                stmt = tenants.update().where(tenants.c.tenant_id == tenant_id)
                await conn.execute(stmt.values(settings=seal(opened, box)))
    return len(clear)
