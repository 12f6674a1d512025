"""API tokens: random, shown once, stored as SHA-256 hashes; each belongs to a tenant or is admin."""

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
    """Who is calling: a tenant's token (sees that tenant only) or a platform admin (all tenants)."""

    tenant_id: str | None
    token_id: str
    name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}" + (f" ({self.name})" if self.name else "")

    def can_see(self, tenant_id: str) -> bool:
        return self.is_admin or self.tenant_id == tenant_id


SYSTEM = Principal(tenant_id=None, token_id="system", name="local")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(conn: AsyncConnection, tenant_id: str | None, name: str = "") -> tuple[str, str]:
    """Store a new token and return (token_id, token). The token itself is never stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    await conn.execute(
        api_tokens.insert().values(
            token_id=token_id,
            tenant_id=tenant_id,
            token_hash=hash_token(token),
            name=name,
            created_at=utcnow(),
        )
    )
    return token_id, token


async def principal_for(conn: AsyncConnection, token: str) -> Principal | None:
    row = (
        await conn.execute(
            sa.select(api_tokens.c.token_id, api_tokens.c.tenant_id, api_tokens.c.name).where(
                api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked.is_(False)
            )
        )
    ).first()
    return Principal(tenant_id=row.tenant_id, token_id=row.token_id, name=row.name) if row else None
