"""Secrets inside agent configuration: encrypted at rest, never shown, exported as placeholders.

An agent's ``config`` may hold a model key (``api_key``, a router's ``llm.api_key``) or a signing
secret (a remote agent's ``secret``), sealed in place (``secret_fields.py``). Every view of an agent
(REST, Python API, audit log) shows ``api_key_set: true`` in place of the value, as channels show
``credentials_set``; an export writes ``${FRONTDESK_TENANT_<TENANT>__AGENT_<AGENT_ID>_<FIELD>}``
and an import by the platform reads that variable back (``env_policy.resolve``).

Agents at run time read their secrets with ``agent_secret(secrets, agent_info, "llm.api_key")``.
"""

from __future__ import annotations

import copy
from typing import Any

from frontdesk.config import env_policy
from frontdesk.config import secret_fields as sf
from frontdesk.security import env_refs
from frontdesk.security.secrets import SecretBox
from frontdesk.security.tokens import Principal

SECRET_FIELDS = ("api_key", "secret", "llm.api_key")
SEALED = sf.SEALED
is_sealed = sf.is_sealed


def strip_markers(config: Any) -> Any:
    """``config`` without the ``*_set`` flags of a view: they are not configuration."""
    return sf.strip_markers(config, SECRET_FIELDS)


def seal(config: Any, box: SecretBox) -> Any:
    """``config`` as stored: every secret field encrypted."""
    return sf.seal(config, SECRET_FIELDS, box)


def unseal(config: Any, box: SecretBox) -> Any:
    """``config`` with its secrets in clear (never leaves the service)."""
    return sf.unseal(config, SECRET_FIELDS, box)


def mask(config: Any) -> Any:
    """The view of ``config``: each secret that is set becomes ``<name>_set: true``."""
    return sf.mask(config, SECRET_FIELDS)


def agent_secret(secrets: SecretBox, agent_info: Any, field: str) -> str | None:
    """The clear value of ``field`` ("secret", "api_key", "llm.api_key") of a running agent, or None."""
    node, leaf = sf.parent(agent_info.config or {}, field)
    value = node.get(leaf) if node is not None else None
    if value in (None, ""):
        return None
    return str(sf.open_value(value, secrets))


# -- export and import ----------------------------------------------------------------------------


def placeholder(tenant_id: str, agent_id: str, field: str) -> str:
    return "${" + env_refs.tenant_variable(tenant_id, "agent", agent_id, field) + "}"


def legacy_placeholder(agent_id: str, field: str) -> str:
    """What exports wrote before variables had to be the tenant's: still recognised on import."""
    return "${FRONTDESK_AGENT_" + env_refs.legacy_part(agent_id) + "_" + env_refs.legacy_part(field) + "}"


def export_view(tenant_id: str, agent_id: str, config: Any) -> Any:
    """A masked config as exported: each ``<name>_set`` flag becomes the secret's placeholder."""
    if not isinstance(config, dict):
        return config
    out = copy.deepcopy(config)
    for field in SECRET_FIELDS:
        node, leaf = sf.parent(out, field)
        if node is not None and node.pop(sf.marker(leaf), False):
            node[leaf] = placeholder(tenant_id, agent_id, field)
    return out


def resolve_import(config: Any, stored: Any, agent_id: str, tenant_id: str, principal: Principal) -> Any:
    """Secrets of an imported config: ``${NAME}`` resolved by ``env_policy.resolve``.

    A ``<name>_set: true`` flag copied from a view keeps the stored secret; with nothing stored,
    it is dropped.
    """
    if not isinstance(config, dict):
        return config
    out = copy.deepcopy(config)
    for field in SECRET_FIELDS:
        node, leaf = sf.parent(out, field)
        if node is None:
            continue
        kept_node, _ = sf.parent(stored or {}, field)
        kept = kept_node.get(leaf) if kept_node is not None else None
        if node.pop(sf.marker(leaf), False) and node.get(leaf) is None:
            if kept not in (None, ""):
                node[leaf] = kept
            continue
        if leaf in node:
            node[leaf] = env_policy.resolve(
                node[leaf],
                where=f"config.{field} of agent '{agent_id}'",
                tenant_id=tenant_id,
                principal=principal,
                placeholders=(placeholder(tenant_id, agent_id, field), legacy_placeholder(agent_id, field)),
                stored=kept,
            )
    return out
