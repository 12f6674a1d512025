"""Which environment variables a tenant's configuration may name: one rule for every reference.

Environment references (``${NAME}`` in an imported document, ``api_key_env``, the calendar's
``*_env`` settings, ``${env:NAME}`` in an HTTP action's headers) are an operator feature: only the
platform (an admin token without tenant, or the CLI) may write them, and only for variables named
``FRONTDESK_TENANT_<TENANT>__<NAME>`` (``FRONTDESK_ACTION_<TENANT>__<NAME>`` is kept as a legacy
alias), where ``<TENANT>`` is the tenant id in upper case with other characters as ``_``. So no
configuration can read ``FRONTDESK_SECRET_KEY``, the database URL or another tenant's variables.

A tenant token that sends a reference is refused with ``TENANT_REFUSAL``, the same answer whether
the variable exists or not: tenants give secrets as values, which are encrypted at rest.
"""

from __future__ import annotations

import os
import re

from frontdesk.settings import Settings

PREFIX = "FRONTDESK_TENANT_"
LEGACY_PREFIX = "FRONTDESK_ACTION_"
TENANT_REFUSAL = (
    "environment references are set up by the platform operator; a tenant gives the secret's value "
    "itself (it is stored encrypted)"
)


def env_part(text: str) -> str:
    """``text`` as a part of a variable name: upper case, each run of other characters one ``_``."""
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def legacy_part(text: str) -> str:
    """``text`` as names were always written before: upper case, each other character ``_``."""
    return re.sub(r"[^A-Z0-9]", "_", text.upper())


def _tenant(tenant_id: str) -> str:
    # Character by character (not collapsed), as FRONTDESK_ACTION_ names have always been written.
    return legacy_part(tenant_id)


def tenant_prefix(tenant_id: str) -> str:
    return PREFIX + _tenant(tenant_id) + "__"


def tenant_variable(tenant_id: str, *parts: str) -> str:
    """A variable of ``tenant_id``'s (export placeholders): the prefix, then ``parts`` joined by ``_``."""
    return tenant_prefix(tenant_id) + "_".join(env_part(p) for p in parts)


def _frontdesk_settings() -> frozenset[str]:
    return frozenset("FRONTDESK_" + name.upper() for name in Settings.model_fields)


def problem(name: str, tenant_id: str) -> str | None:
    """Why ``tenant_id``'s configuration may not read variable ``name`` (None: it may)."""
    for prefix in (tenant_prefix(tenant_id), LEGACY_PREFIX + _tenant(tenant_id) + "__"):
        rest = name[len(prefix) :]
        # "__" after the prefix could be another tenant's prefix (tenant "a" vs tenant "a__b").
        if name.startswith(prefix) and rest[:1].isalnum() and "__" not in rest:
            if name not in _frontdesk_settings():
                return None
            return f"environment variable {name} is a setting of Frontdesk itself"
    return (
        f"environment variable {name} is not this tenant's: a tenant's configuration may only read "
        f"variables named {tenant_prefix(tenant_id)}<NAME>, which the operator sets"
    )


def allowed(name: str, tenant_id: str) -> bool:
    return problem(name, tenant_id) is None


def read(name: str, tenant_id: str) -> str | None:
    """The value of ``name`` for ``tenant_id``'s configuration; None when unset or not the tenant's."""
    return os.environ.get(name) if allowed(name, tenant_id) else None
