"""Every error leaves the API as ``{"error": {"code", "message", "details"}}``, never a stack trace."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from frontdesk.errors import FrontdeskError, RateLimited

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


def install(app: FastAPI) -> None:
    @app.exception_handler(FrontdeskError)
    async def _frontdesk(_: Request, exc: FrontdeskError) -> JSONResponse:
        headers = (
            {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, RateLimited) else None
        )
        if exc.status_code >= 500:
            log.error("request failed", error=exc.message)
        return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        message = "; ".join(f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields)
        return error_response(422, "invalid_request", message or "invalid request", fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 413:
            message = f"request body over {app.state.runtime.settings.max_body_bytes} bytes"
        return error_response(exc.status_code, code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (PostgreSQL: a NUL character, a number
        # out of range, a string over a column's length); the transaction rolled back whole.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "invalid value"
        log.warning("database refused a request's value", path=request.url.path, reason=reason)
        message = f"a value in the request cannot be stored or looked up: {reason}"
        return error_response(400, "bad_request", message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return error_response(500, "internal_error", "internal error; the server log has the details")
