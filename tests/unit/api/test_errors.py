"""The OpenAPI document describes the errors the API gives: every status, in the one error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from frontdesk.api.errors import DOCUMENTED_STATUSES, Error
from frontdesk.app import create_app
from tests.conftest import make_settings

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(make_settings("sqlite+aiosqlite://")).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_operation_documents_every_error_status(document: dict[str, Any]) -> None:
    expected = {"400", "401", "403", "404", "409", "413", "415", "422", "429", "500"}
    assert {str(s) for s in DOCUMENTED_STATUSES} == expected
    for label, operation in _operations(document):
        assert expected <= set(operation["responses"]), label


def test_errors_are_documented_in_the_shape_the_handlers_answer(document: dict[str, Any]) -> None:
    # FastAPI's own 422 body ({"detail": [...]}) is never what a client gets: the handler rewrites it.
    assert "HTTPValidationError" not in str(document)
    schema = document["components"]["schemas"]["Error"]
    assert schema["required"] == ["error"]
    for label, operation in _operations(document):
        body = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert body == ERROR_REF, label


def test_an_operations_own_description_of_a_status_wins(document: dict[str, Any]) -> None:
    forbidden = document["paths"]["/webhooks/meta"]["get"]["responses"]["403"]
    assert list(forbidden["content"]) == ["text/plain"]


async def test_the_documented_error_shape_is_the_one_answered() -> None:
    app: FastAPI = create_app(make_settings("sqlite+aiosqlite://"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/api/v1/tenants")  # no token: 401, before any database access
        served = (await client.get("/openapi.json")).json()
    assert answer.status_code == 401
    Error.model_validate(answer.json())
    documented = served["paths"]["/api/v1/tenants"]["get"]["responses"]["401"]  # what /openapi.json serves
    assert documented["content"]["application/json"]["schema"] == ERROR_REF
