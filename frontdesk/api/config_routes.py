"""REST API for configuration: /api/v1/{tenants,agents,channels,mappings,knowledge}, validation,
audit, export and import. Every handler is a thin call into ConfigService.

Lists answer ``{"items": [...], "total": n, "skip": s, "limit": l}``, ordered by id. Request bodies
are validated by the service (not by FastAPI), so every interface reports a bad object with the
same 422 ``invalid_config`` error; the OpenAPI document still shows each body's fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from frontdesk.api.deps import get_principal
from frontdesk.api.pagination import Page, pagination
from frontdesk.config import yaml_io
from frontdesk.config.repository import KINDS
from frontdesk.config.service import ConfigService
from frontdesk.errors import BadRequest
from frontdesk.security.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["configuration"])

MAX_LIMIT = 500
Paging = Depends(pagination(100, MAX_LIMIT))
TenantQ = Query(None, description="only this tenant (admin tokens; a tenant token sees its own only)")


async def service(request: Request) -> ConfigService:
    return request.app.state.runtime.config


def body_schema(model: type[Any], *, partial: bool) -> dict[str, Any]:
    """The model's JSON schema, ``$defs`` inlined, as an OpenAPI request body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    schema = inline(schema)
    if partial:
        schema.pop("required", None)
        schema["title"] = f"{model.__name__} patch (JSON Merge Patch: null removes a key)"
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def json_object(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("the request body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def page(items: list[dict[str, Any]], total: int, skip: int, limit: int) -> dict[str, Any]:
    return {"items": items, "total": total, "skip": skip, "limit": limit}


async def listing(
    svc: ConfigService,
    kind: str,
    /,
    principal: Principal,
    tenant_id: str | None,
    pg: Page,
    **filters: Any,
) -> dict[str, Any]:
    items = await svc.list(
        kind, principal=principal, tenant_id=tenant_id, skip=pg.skip, limit=pg.limit, **filters
    )
    total = await svc.count(kind, principal=principal, tenant_id=tenant_id, **filters)
    return page(items, total, pg.skip, pg.limit)


def crud(kind: str, plural: str, id_name: str) -> None:
    """GET one, POST, PATCH and DELETE for ``kind`` at /api/v1/{plural}[/{id_name}]."""
    model = KINDS[kind].model
    label = KINDS[kind].label.lower()
    item = f"/{plural}/{{{id_name}}}"
    ObjectId = Path(alias=id_name)

    async def get_one(
        object_id: str = ObjectId,
        p: Principal = Depends(get_principal),
        svc: ConfigService = Depends(service),
    ) -> dict[str, Any]:
        return await svc.get(kind, object_id, principal=p)

    async def create(
        request: Request, p: Principal = Depends(get_principal), svc: ConfigService = Depends(service)
    ) -> dict[str, Any]:
        return await svc.create(kind, await json_object(request), principal=p)

    async def patch(
        request: Request,
        object_id: str = ObjectId,
        p: Principal = Depends(get_principal),
        svc: ConfigService = Depends(service),
    ) -> dict[str, Any]:
        return await svc.update(kind, object_id, await json_object(request), principal=p)

    async def delete(
        object_id: str = ObjectId,
        p: Principal = Depends(get_principal),
        svc: ConfigService = Depends(service),
    ) -> Response:
        await svc.delete(kind, object_id, principal=p)
        return Response(status_code=204)

    add: Callable[..., Any] = router.add_api_route
    add(item, get_one, methods=["GET"], name=f"get_{kind}", summary=f"Get one {label}")
    add(
        f"/{plural}",
        create,
        methods=["POST"],
        status_code=201,
        name=f"create_{kind}",
        summary=f"Create a {label}",
        openapi_extra=body_schema(model, partial=False),
    )
    add(
        item,
        patch,
        methods=["PATCH"],
        name=f"update_{kind}",
        summary=f"Update a {label} (merge patch)",
        openapi_extra=body_schema(model, partial=True),
    )
    add(
        item,
        delete,
        methods=["DELETE"],
        status_code=204,
        name=f"delete_{kind}",
        summary=f"Delete a {label}",
        response_class=Response,
    )


@router.get("/tenants", summary="List tenants")
async def list_tenants(
    tenant_id: str | None = TenantQ,
    pg: Page = Paging,
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    return await listing(svc, "tenant", p, tenant_id, pg)


@router.get("/agents", summary="List agents")
async def list_agents(
    tenant_id: str | None = TenantQ,
    status: str | None = Query(None, description="active | paused | stopped"),
    kind: str | None = Query(None, description="faq | llm | remote | router"),
    pg: Page = Paging,
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    return await listing(svc, "agent", p, tenant_id, pg, status=status, kind=kind)


@router.get("/channels", summary="List channels")
async def list_channels(
    tenant_id: str | None = TenantQ,
    channel_type: str | None = Query(None),
    provider: str | None = Query(None),
    active: bool | None = Query(None),
    pg: Page = Paging,
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    filters = {"channel_type": channel_type, "provider": provider, "active": active}
    return await listing(svc, "channel", p, tenant_id, pg, **filters)


@router.get("/mappings", summary="List agent-channel mappings")
async def list_mappings(
    tenant_id: str | None = TenantQ,
    agent_id: str | None = Query(None),
    channel_id: str | None = Query(None),
    is_primary: bool | None = Query(None),
    pg: Page = Paging,
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    filters = {"agent_id": agent_id, "channel_id": channel_id, "is_primary": is_primary}
    return await listing(svc, "mapping", p, tenant_id, pg, **filters)


@router.get("/knowledge", summary="List knowledge entries")
async def list_knowledge(
    tenant_id: str | None = TenantQ,
    tag: str | None = Query(None, description="entries carrying this tag"),
    q: str | None = Query(None, description="text contained in the question or the answer"),
    pg: Page = Paging,
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    return await listing(svc, "knowledge", p, tenant_id, pg, tag=tag, q=q)


crud("tenant", "tenants", "tenant_id")
crud("agent", "agents", "agent_id")
crud("channel", "channels", "channel_id")
crud("mapping", "mappings", "mapping_id")
crud("knowledge", "knowledge", "id")


@router.get("/validation", summary="Validate the configuration")
async def validation(
    tenant_id: str | None = TenantQ,
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    return await svc.validate(tenant_id, principal=p)


@router.get("/audit", summary="Configuration changes, newest first")
async def audit(
    tenant_id: str | None = TenantQ,
    object_type: str | None = Query(None),
    object_id: str | None = Query(None),
    pg: Page = Paging,
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    items, total = await svc.audit(
        tenant_id, pg.skip, pg.limit, principal=p, object_type=object_type, object_id=object_id
    )
    return page(items, total, pg.skip, pg.limit)


@router.get(
    "/config/export",
    summary="Export the configuration (JSON, or YAML with format=yaml)",
    responses={200: {"content": {"application/yaml": {"schema": {"type": "object"}}}}},
)
async def export(
    tenant_id: str | None = TenantQ,
    format: str = Query("json", pattern="^(json|yaml)$"),
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> Any:
    doc = await svc.export(tenant_id, principal=p)
    if format == "yaml":
        return Response(yaml_io.dump(doc), media_type="application/yaml")
    return doc


@router.post(
    "/config/import",
    summary="Import a configuration document (JSON or YAML), all or nothing",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_(
    request: Request,
    dry_run: bool = Query(False, description="validate and report the changes without writing"),
    p: Principal = Depends(get_principal),
    svc: ConfigService = Depends(service),
) -> dict[str, Any]:
    if "yaml" in request.headers.get("content-type", ""):
        doc: Any = yaml_io.load((await request.body()).decode("utf-8", "replace"), "request body")
    else:
        doc = await json_object(request)
    return await svc.import_(doc, principal=p, dry_run=dry_run)
