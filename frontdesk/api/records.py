"""Records datasets over REST: upload (replacing the dataset at once), list, delete.

``POST /api/v1/records/{dataset}?key_column=…&contact_column=…`` takes ``text/csv`` (with a header
line) or ``application/json`` (a list of objects). A tenant token works on its own tenant; an admin
names one with ``tenant_id`` (default: the default tenant). Rows themselves are never listed here:
they are customers' data, read one contact at a time by the ``lookup_record`` tool.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from frontdesk.api.deps import get_principal, get_runtime, scope_tenant
from frontdesk.errors import NotFound, UnsupportedMediaType
from frontdesk.model.config import DEFAULT_TENANT
from frontdesk.records import importer, store
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal

router = APIRouter(prefix="/api/v1/records", tags=["records"])


def _tenant(principal: Principal, tenant_id: str | None) -> str:
    return scope_tenant(principal, tenant_id) or DEFAULT_TENANT


@router.post(
    "/{dataset}",
    summary="Upload a dataset (CSV or JSON), replacing it",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string", "description": "a header line, then one row a line"}
                },
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
)
async def upload(
    dataset: str,
    request: Request,
    key_column: str = Query(..., description="the column holding each row's key (unique)"),
    contact_column: str = Query(..., description="the column with the contact's phone number or e-mail"),
    contact_kind: Literal["phone", "email"] | None = Query(None, description="default: guessed"),
    tenant_id: str | None = Query(None, description="admin tokens: the tenant (default: 'default')"),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    tenant = _tenant(principal, tenant_id)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    formats = {"text/csv": "csv", "application/csv": "csv", "application/json": "json"}
    if media not in formats:
        raise UnsupportedMediaType(
            f"send the dataset as text/csv (with a header line) or application/json (a list of objects), "
            f"not {media or 'no content type'}"
        )
    parsed = importer.read(
        dataset, await request.body(), formats[media], key_column, contact_column, contact_kind
    )
    return await store.replace(rt.db, tenant, parsed)


@router.get("", summary="List datasets")
async def list_datasets(
    tenant_id: str | None = Query(None, description="only this tenant (admin tokens)"),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    items = await store.datasets(rt.db, scope_tenant(principal, tenant_id))
    return {"items": items, "total": len(items)}


@router.get("/{dataset}", summary="One dataset's description (not its rows)")
async def get_dataset(
    dataset: str,
    tenant_id: str | None = Query(None),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    found = await store.dataset(rt.db, _tenant(principal, tenant_id), dataset)
    if found is None:
        raise NotFound(f"dataset {dataset!r} not found")
    return found


@router.delete("/{dataset}", status_code=204, response_class=Response, summary="Delete a dataset")
async def delete_dataset(
    dataset: str,
    tenant_id: str | None = Query(None),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    if not await store.delete(rt.db, _tenant(principal, tenant_id), dataset):
        raise NotFound(f"dataset {dataset!r} not found")
    return Response(status_code=204)
