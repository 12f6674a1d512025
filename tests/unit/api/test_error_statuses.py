"""One exception tree in ``frontdesk/errors.py``, mapped to HTTP statuses in one place, ``api/errors.py``."""

from __future__ import annotations

import inspect
import re

import httpx
import pytest
from fastapi import FastAPI

import frontdesk.app  # noqa: F401  (imports every module that raises: their errors must be the tree's)
from frontdesk import errors
from frontdesk.api.errors import install, status_of

# (status, code) of every error class, as the API has always answered them.
EXPECTED = {
    "FrontdeskError": (500, "internal_error"),
    "ConfigError": (422, "invalid_config"),
    "ConflictError": (409, "conflict"),
    "PatternError": (422, "invalid_config"),
    "NotFound": (404, "not_found"),
    "AuthError": (401, "unauthorized"),
    "Forbidden": (403, "forbidden"),
    "RateLimited": (429, "rate_limited"),
    "BadRequest": (400, "bad_request"),
    "UnsupportedMediaType": (415, "unsupported_media_type"),
    "InvalidSignature": (401, "invalid_signature"),
    "DeliveryError": (500, "delivery_failed"),
    "RetryableDelivery": (500, "delivery_failed"),
    "PermanentDelivery": (500, "delivery_failed"),
    "OutboundError": (502, "outbound_failed"),
    "BlockedDestination": (403, "blocked_destination"),
    "OutboundTimeout": (502, "outbound_timeout"),
    "BookingRefused": (409, "booking_refused"),
    "FullyBooked": (409, "fully_booked"),
    "SyncFailed": (502, "calendar_sync_failed"),
    "ToolError": (422, "internal_error"),
    "ToolCrashed": (500, "internal_error"),
    "LoopError": (500, "internal_error"),
    "LlmFailed": (500, "internal_error"),
    "BadAnswer": (500, "internal_error"),
    "Superseded": (500, "internal_error"),
}


def _tree() -> dict[str, type[errors.FrontdeskError]]:
    return {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, errors.FrontdeskError)
    }


def _example(cls: type[errors.FrontdeskError]) -> errors.FrontdeskError:
    if cls is errors.ToolCrashed:
        return cls("lookup", "it broke")
    if cls is errors.Superseded:
        return cls()
    return cls("it went wrong")


def test_every_error_class_has_its_status_and_code() -> None:
    tree = _tree()
    assert set(tree) == set(EXPECTED)
    assert {name: (status_of(_example(cls)), cls.code) for name, cls in tree.items()} == EXPECTED


def test_the_errors_know_nothing_of_http() -> None:
    assert [name for name, cls in _tree().items() if hasattr(cls, "status_code")] == []


def test_every_frontdesk_error_is_defined_in_the_one_tree() -> None:
    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    stray = [
        f"{c.__module__}.{c.__qualname__}"
        for c in subclasses(errors.FrontdeskError)
        if c.__module__.startswith("frontdesk.") and c.__module__ != "frontdesk.errors"
    ]
    assert stray == []


def test_the_module_docstring_draws_every_class_once() -> None:
    drawn = re.findall(r"── (\w+)", errors.__doc__ or "")
    assert sorted(drawn) == sorted(set(EXPECTED) - {"FrontdeskError"})


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_the_api_answers_each_error_with_its_status_and_body(name: str) -> None:
    app = FastAPI()
    install(app)
    exc = _example(_tree()[name])

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/boom")
    status, code = EXPECTED[name]
    assert answer.status_code == status
    assert answer.json() == {"error": {"code": code, "message": exc.message, "details": None}}
