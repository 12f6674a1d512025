"""FastAPI dependencies: the runtime, the caller (Bearer token), its authorisation and the tenant scope.

Every ``/api/v1`` route takes its caller through ``authorize(permission)``: the one place that
knows the role matrix (security/roles.py). A role that may not → 403; another tenant's object →
404 (``scope_tenant``), exactly as if it did not exist.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from frontdesk.errors import AuthError, Forbidden, NotFound
from frontdesk.runtime import Runtime
from frontdesk.security.roles import Permission, allows
from frontdesk.security.tokens import Principal, principal_for

_TOKEN_CACHE_SECONDS = 5.0


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a hop per request.
    return request.app.state.runtime


async def get_principal(request: Request, rt: Runtime = Depends(get_runtime)) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(
            "missing bearer token: send 'Authorization: Bearer <token>' (see `frontdesk token create`)"
        )
    token = token.strip()
    cached = rt.token_cache.get(token)
    now = time.monotonic()
    if cached and cached[1] > now:
        return cached[0]
    async with rt.db.read() as conn:
        principal = await principal_for(conn, token)
    if principal is None:
        raise AuthError("invalid or revoked token")
    rt.token_cache[token] = (principal, now + _TOKEN_CACHE_SECONDS)
    return principal


def authorize(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if its role holds ``permission``; 403 otherwise."""

    async def dependency(principal: Principal = Depends(get_principal)) -> Principal:
        if not allows(principal.effective_role, permission):
            raise Forbidden(f"the {principal.effective_role} role may not do this ({permission} permission)")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the role matrix test
    return dependency


def scope_tenant(principal: Principal, tenant_id: str | None) -> str | None:
    """The tenant a request is about: a tenant token's own, or what an admin asked for (None = all).

    A tenant token naming another tenant gets 404, exactly as if that tenant did not exist.
    """
    if principal.is_superuser:
        return tenant_id
    if tenant_id is not None and tenant_id != principal.tenant_id:
        raise NotFound(f"tenant {tenant_id!r} not found")
    return principal.tenant_id
