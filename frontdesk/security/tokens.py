"""API tokens: random, shown once, stored as SHA-256 hashes; each belongs to a tenant (with a role) or
to the platform (superuser)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from frontdesk.model.ids import new_id
from frontdesk.store.db import utcnow
from frontdesk.store.tables import api_tokens

PREFIX = "fd_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API token or a signed-in user, of one tenant (sees that tenant only) or of
    the platform (``tenant_id`` None: a superuser, every tenant).

    ``role`` (security/roles.py) is what the caller may do within its tenant; a principal without a
    tenant is a superuser whatever it says. ``user_id`` is set for a signed-in user.
    """

    tenant_id: str | None
    token_id: str
    name: str = ""
    role: str = "admin"
    user_id: str | None = None

    @property
    def is_superuser(self) -> bool:
        return self.tenant_id is None

    @property
    def effective_role(self) -> str:
        return "superuser" if self.tenant_id is None else self.role

    @property
    def actor(self) -> str:
        who = f"user:{self.user_id}" if self.user_id else f"token:{self.token_id}"
        return who + (f" ({self.name})" if self.name else "")

    def can_see(self, tenant_id: str) -> bool:
        return self.is_superuser or self.tenant_id == tenant_id


SYSTEM = Principal(tenant_id=None, token_id="system", name="local")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    conn: AsyncConnection, tenant_id: str | None, name: str = "", role: str = "admin"
) -> tuple[str, str]:
    """Store a new token and return (token_id, token). The token itself is never stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    await conn.execute(
        api_tokens.insert().values(
            token_id=token_id,
            tenant_id=tenant_id,
            token_hash=hash_token(token),
            name=name,
            role=role,
            created_at=utcnow(),
        )
    )
    return token_id, token


async def principal_for(conn: AsyncConnection, token: str) -> Principal | None:
    row = (
        await conn.execute(
            sa.select(
                api_tokens.c.token_id, api_tokens.c.tenant_id, api_tokens.c.name, api_tokens.c.role
            ).where(api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked.is_(False))
        )
    ).first()
    if row is None:
        return None
    return Principal(tenant_id=row.tenant_id, token_id=row.token_id, name=row.name, role=row.role)
