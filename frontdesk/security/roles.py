"""Roles and what each may do: the one role matrix every route is authorised against.

``superuser``: the platform's operator, every tenant. ``admin``: one tenant, its configuration and
its conversations. ``agent``: a human agent of one tenant, its conversations, reviews and notes;
no configuration. A route names the permission it needs (``api/deps.py`` ``authorize``); the table
of routes and permissions is written in docs/roles.md and tested against the routes.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["superuser", "admin", "agent"]
Permission = Literal["platform", "config", "inbox"]

ROLES: tuple[Role, ...] = ("superuser", "admin", "agent")
TOKEN_ROLES: tuple[Role, ...] = ("admin", "agent")  # a tenant's API token; a platform token is superuser

# Who holds each permission. "platform": the operator's views across tenants (admin monitoring).
# "config": a tenant's configuration, users, tokens and analytics. "inbox": conversations,
# reviews, notes, human replies, the live stream.
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    "platform": frozenset({"superuser"}),
    "config": frozenset({"superuser", "admin"}),
    "inbox": frozenset({"superuser", "admin", "agent"}),
}

_RANK: dict[str, int] = {"agent": 1, "admin": 2, "superuser": 3}


def allows(role: str, permission: Permission) -> bool:
    return role in PERMISSIONS[permission]


def rank(role: str) -> int:
    """How much a role may do, to refuse raising a role above the caller's own."""
    return _RANK.get(role, 0)
