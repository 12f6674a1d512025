"""Secrets inside agent configuration: encrypted at rest, never shown, exported as placeholders.

An agent's ``config`` may hold a model key (``api_key``, a router's ``llm.api_key``) or a signing
secret (a remote agent's ``secret``). They are stored in the same JSON column as the rest of the
configuration, each replaced by a MultiFernet token (``SEALED`` prefix), so reading configuration
never needs the key. Every view of an agent (REST, Python API, audit log) shows ``api_key_set: true``
in place of the value, as channels show ``credentials_set``; an export writes
``${FRONTDESK_AGENT_<AGENT_ID>_<FIELD>}`` and an import reads that variable back.

Agents at run time read their secrets with ``agent_secret(rt, agent_info, "llm.api_key")``.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

from frontdesk.errors import ConfigError
from frontdesk.security.secrets import SecretBox

SECRET_FIELDS = ("api_key", "secret", "llm.api_key")
SEALED = "fdsecret:v1:"
ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _split(field: str) -> tuple[list[str], str]:
    *parents, leaf = field.split(".")
    return parents, leaf


def _parent(config: Any, field: str) -> tuple[dict[str, Any] | None, str]:
    parents, leaf = _split(field)
    node = config
    for name in parents:
        if not isinstance(node, dict):
            return None, leaf
        node = node.get(name)
    return (node if isinstance(node, dict) else None), leaf


def _marker(leaf: str) -> str:
    return f"{leaf}_set"


def strip_markers(config: Any) -> Any:
    """``config`` without the ``*_set`` flags of a view: they are not configuration."""
    if not isinstance(config, dict):
        return config
    out = copy.deepcopy(config)
    for field in SECRET_FIELDS:
        node, leaf = _parent(out, field)
        if node is not None:
            node.pop(_marker(leaf), None)
    return out


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED)


def seal(config: Any, box: SecretBox) -> Any:
    """``config`` as stored: every secret field encrypted."""
    out = strip_markers(config)
    if not isinstance(out, dict):
        return out
    for field in SECRET_FIELDS:
        node, leaf = _parent(out, field)
        if node is None or node.get(leaf) in (None, ""):
            continue
        # Always encrypt, even what looks sealed: configuration only ever carries clear values here,
        # so a token pasted in by hand can never be opened as someone else's secret.
        node[leaf] = SEALED + box.encrypt_json({"v": node[leaf]})
    return out


def _open(value: Any, box: SecretBox) -> Any:
    return box.decrypt_json(value[len(SEALED) :])["v"] if is_sealed(value) else value


def unseal(config: Any, box: SecretBox) -> Any:
    """``config`` with its secrets in clear (never leaves the service)."""
    if not isinstance(config, dict):
        return config
    out = copy.deepcopy(config)
    for field in SECRET_FIELDS:
        node, leaf = _parent(out, field)
        if node is not None and leaf in node:
            node[leaf] = _open(node[leaf], box)
    return out


def mask(config: Any) -> Any:
    """The view of ``config``: each secret that is set becomes ``<name>_set: true``."""
    out = strip_markers(config)
    if not isinstance(out, dict):
        return out
    for field in SECRET_FIELDS:
        node, leaf = _parent(out, field)
        if node is None or leaf not in node:
            continue
        if node.pop(leaf) not in (None, ""):
            node[_marker(leaf)] = True
    return out


def agent_secret(rt: Any, agent_info: Any, field: str) -> str | None:
    """The clear value of ``field`` ("secret", "api_key", "llm.api_key") of a running agent, or None."""
    node, leaf = _parent(agent_info.config or {}, field)
    value = node.get(leaf) if node is not None else None
    if value in (None, ""):
        return None
    return str(_open(value, rt.secrets))


# -- export and import ----------------------------------------------------------------------------


def placeholder(agent_id: str, field: str) -> str:
    def env(text: str) -> str:
        return re.sub(r"[^A-Z0-9]", "_", text.upper())

    return "${FRONTDESK_AGENT_" + env(agent_id) + "_" + env(field) + "}"


def export_view(agent_id: str, config: Any) -> Any:
    """A masked config as exported: each ``<name>_set`` flag becomes the secret's placeholder."""
    if not isinstance(config, dict):
        return config
    out = copy.deepcopy(config)
    for field in SECRET_FIELDS:
        node, leaf = _parent(out, field)
        if node is not None and node.pop(_marker(leaf), False):
            node[leaf] = placeholder(agent_id, field)
    return out


def resolve_import(config: Any, stored: Any, agent_id: str) -> Any:
    """Secrets of an imported config: ``${NAME}`` read from the environment.

    An unset variable, or a ``<name>_set: true`` flag copied from a view, keeps the stored secret
    (re-importing an export changes nothing); with nothing stored, the import is refused.
    """
    if not isinstance(config, dict):
        return config
    out = copy.deepcopy(config)
    for field in SECRET_FIELDS:
        node, leaf = _parent(out, field)
        if node is None:
            continue
        flagged = node.pop(_marker(leaf), False)
        value = node.get(leaf)
        ref = ENV_REF.match(value) if isinstance(value, str) else None
        if ref is not None and ref.group(1) in os.environ:
            node[leaf] = os.environ[ref.group(1)]
            continue
        if ref is None and not (flagged and value is None):
            continue
        kept_node, _ = _parent(stored or {}, field)
        kept = kept_node.get(leaf) if kept_node is not None else None
        if kept not in (None, ""):
            node[leaf] = kept
        elif ref is not None:
            raise ConfigError(
                f"config.{field} of agent '{agent_id}' refers to environment variable {ref.group(1)}, "
                "which is not set"
            )
    return out
