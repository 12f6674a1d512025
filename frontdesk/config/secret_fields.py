"""Secret fields inside JSON configuration: sealed at rest, shown as ``<name>_set: true`` in views.

A field is a dotted path into a JSON object (``"llm.api_key"`` in an agent's config,
``"calendar.caldav.password"`` in a tenant's settings). At rest its value is replaced by a
MultiFernet token with the ``SEALED`` prefix, in the same JSON column as the rest, so reading
configuration never needs the key; every view (REST, Python API, audit log, export) shows
``<leaf>_set: true`` instead. ``agent_secrets.py`` and ``tenant_secrets.py`` name their fields.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from frontdesk.security.secrets import SecretBox

SEALED = "fdsecret:v1:"


def parent(obj: Any, field: str) -> tuple[dict[str, Any] | None, str]:
    """The dict holding ``field``'s last part (None when a parent is missing), and that part."""
    *parents, leaf = field.split(".")
    node = obj
    for name in parents:
        if not isinstance(node, dict):
            return None, leaf
        node = node.get(name)
    return (node if isinstance(node, dict) else None), leaf


def marker(leaf: str) -> str:
    return f"{leaf}_set"


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED)


def seal_value(value: Any, box: SecretBox) -> str:
    # Always encrypt, even what looks sealed: configuration only ever carries clear values here,
    # so a token pasted in by hand can never be opened as someone else's secret.
    return SEALED + box.encrypt_json({"v": value})


def open_value(value: Any, box: SecretBox) -> Any:
    return box.decrypt_json(value[len(SEALED) :])["v"] if is_sealed(value) else value


def strip_markers(obj: Any, fields: Iterable[str]) -> Any:
    """``obj`` without the ``*_set`` flags of a view: they are not configuration."""
    if not isinstance(obj, dict):
        return obj
    out = copy.deepcopy(obj)
    for field in fields:
        node, leaf = parent(out, field)
        if node is not None:
            node.pop(marker(leaf), None)
    return out


def seal(obj: Any, fields: Iterable[str], box: SecretBox) -> Any:
    """``obj`` as stored: every secret field that is set encrypted (``*_set`` flags dropped)."""
    fields = tuple(fields)
    out = strip_markers(obj, fields)
    if not isinstance(out, dict):
        return out
    for field in fields:
        node, leaf = parent(out, field)
        if node is not None and node.get(leaf) not in (None, ""):
            node[leaf] = seal_value(node[leaf], box)
    return out


def unseal(obj: Any, fields: Iterable[str], box: SecretBox) -> Any:
    """``obj`` with its secrets in clear (never leaves the service or the code that uses it)."""
    if not isinstance(obj, dict):
        return obj
    out = copy.deepcopy(obj)
    for field in fields:
        node, leaf = parent(out, field)
        if node is not None and leaf in node:
            node[leaf] = open_value(node[leaf], box)
    return out


def mask(obj: Any, fields: Iterable[str]) -> Any:
    """The view of ``obj``: each secret that is set becomes ``<leaf>_set: true``."""
    fields = tuple(fields)
    out = strip_markers(obj, fields)
    if not isinstance(out, dict):
        return out
    for field in fields:
        node, leaf = parent(out, field)
        if node is not None and leaf in node and node.pop(leaf) not in (None, ""):
            node[marker(leaf)] = True
    return out
