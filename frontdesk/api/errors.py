"""Every error leaves the API as ``{"error": {"code", "message", "details"}}``, never a stack trace.

``STATUSES`` is the one place the errors of ``frontdesk/errors.py`` meet HTTP.

The OpenAPI document says so once for every operation: ``install`` adds each error status the
handlers below can give, with that body, to every operation that does not describe it itself.
"""

from __future__ import annotations

import http
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from frontdesk.errors import (
    AuthError,
    BadRequest,
    BlockedDestination,
    BookingRefused,
    ConfigError,
    ConflictError,
    Forbidden,
    FrontdeskError,
    InvalidSignature,
    NotFound,
    OutboundError,
    RateLimited,
    SyncFailed,
    ToolError,
    UnsupportedMediaType,
)

log = structlog.get_logger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}
# The HTTP status of each error class, the one place errors meet HTTP: a class not named here
# takes its nearest named ancestor's, and FrontdeskError's is 500.
STATUSES: dict[type[FrontdeskError], int] = {
    FrontdeskError: 500,
    ConfigError: 422,
    ConflictError: 409,
    NotFound: 404,
    AuthError: 401,
    Forbidden: 403,
    RateLimited: 429,
    BadRequest: 400,
    UnsupportedMediaType: 415,
    InvalidSignature: 401,
    OutboundError: 502,
    BlockedDestination: 403,
    BookingRefused: 409,
    SyncFailed: 502,
    ToolError: 422,
}
# 405 belongs to a path, not to an operation; 500 is what an unexpected error becomes.
DOCUMENTED_STATUSES = sorted((set(HTTP_CODES) - {405}) | {500})


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class Error(BaseModel):
    error: ErrorDetail


def status_of(exc: FrontdeskError) -> int:
    """The HTTP status ``exc`` leaves the API with."""
    return next(STATUSES[cls] for cls in type(exc).__mro__ if cls in STATUSES)


def error_response(status: int, code: str, message: str, details: Any = None, headers=None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status, headers=headers
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        msg = str(err.get("msg", "invalid"))
        out.append({"field": ".".join(loc), "message": msg.removeprefix("Value error, ")})
    return out


def frontdesk_error(exc: FrontdeskError) -> JSONResponse:
    headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, RateLimited) else None
    status = status_of(exc)
    if status >= 500:
        log.error("request failed", error=exc.message)
    return error_response(status, exc.code, exc.message, exc.details, headers)


def data_error(path: str, exc: DataError) -> JSONResponse:
    # The database refused a value the request carried (PostgreSQL: a NUL character, a number
    # out of range, a string over a column's length); the transaction rolled back whole.
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "invalid value"
    log.warning("database refused a request's value", path=path, reason=reason)
    message = f"a value in the request cannot be stored or looked up: {reason}"
    return error_response(400, "bad_request", message)


def unexpected_error(path: str) -> JSONResponse:
    """For an exception no handler knows: logged with its traceback, never shown to the caller."""
    log.exception("unhandled error", path=path)
    return error_response(500, "internal_error", "internal error; the server log has the details")


def too_large(max_bytes: int) -> JSONResponse:
    return error_response(413, HTTP_CODES[413], f"request body over {max_bytes} bytes")


def install(app: FastAPI) -> None:
    _document(app)

    @app.exception_handler(FrontdeskError)
    async def _frontdesk(_: Request, exc: FrontdeskError) -> JSONResponse:
        return frontdesk_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        message = "; ".join(f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields)
        return error_response(422, "invalid_request", message or "invalid request", fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return too_large(app.state.runtime.settings.max_body_bytes)
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        return data_error(request.url.path, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error(request.url.path)


def _document(app: FastAPI) -> None:
    """Have ``app.openapi()`` describe the error responses too (built once, as FastAPI caches it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = build()
        if first:
            add_error_responses(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


_FASTAPI_422 = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}


def add_error_responses(document: dict[str, Any]) -> None:
    """Give every operation of ``document`` the error responses it does not describe itself.

    FastAPI's own 422 (its validation error shape) is replaced: ``_validation`` rewrites those errors.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["Error"] = error_schema
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if responses.get("422", {}).get("content") == _FASTAPI_422:
                del responses["422"]
            for status in DOCUMENTED_STATUSES:
                responses.setdefault(str(status), _error_response(status))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": http.HTTPStatus(status).phrase,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
