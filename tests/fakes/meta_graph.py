"""A fake Meta Graph API on 127.0.0.1: the Cloud API / Send API messages endpoint and media.

It answers like the real API (response and error shapes from the provider fixtures), records every
request (the Graph API has no idempotency key for sends: each request is a message sent), and fails
on demand: ``fake.fail_next(2, status=500)``, ``fail_next(status=429,
retry_after=7)``, ``fail_next(error_code=131030)``, ``fail_next(timeout=True)``.

Use the ``fake_meta`` fixture (import it into the test module) or ``FakeMetaGraph().running()``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import run_app

# (HTTP status, message) of the Graph errors tests ask for by code; others get a generic message.
KNOWN_ERRORS: dict[int, tuple[int, str]] = {
    1: (500, "An unknown error occurred"),
    2: (503, "Service temporarily unavailable"),
    4: (400, "(#4) Application request limit reached"),
    100: (400, "(#100) Invalid parameter"),
    190: (401, "Error validating access token: Session has expired"),
    130429: (400, "(#130429) Rate limit hit"),
    131026: (400, "(#131026) Message undeliverable"),
    131030: (400, "(#131030) Recipient phone number not in allowed list"),
    131047: (400, "(#131047) Re-engagement message"),
    131062: (400, "(#131062) Business-scoped User ID recipients are not supported for this message"),
    131056: (400, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


@dataclass
class Failure:
    status: int | None = None
    error_code: int | None = None
    subcode: int | None = None
    message: str | None = None
    retry_after: float | str | None = None
    timeout: bool = False
    delay: float = 5.0
    body: dict[str, Any] | None = None
    receipts: bool = False  # also fail read receipts (else they pass: one goes beside each reply)


@dataclass
class FakeMetaGraph:
    access_token: str = "EAAG-fake-token"
    requests: list[Recorded] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    base_url: str = ""
    send_delay: float = 0.0  # seconds each send takes to be answered (read receipts are at once)

    def __post_init__(self) -> None:
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closing = False
        self.app = Starlette(
            routes=[
                Route("/media-bytes/{media_id}", self._media_bytes, methods=["GET"]),
                Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{media_id}", self._media_lookup, methods=["GET"]),
            ]
        )

    # --- what tests call ------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FakeMetaGraph]:
        with run_app(self.app) as base_url:
            self.base_url = base_url
            try:
                yield self
            finally:
                self._closing = True  # lets handlers stuck in a simulated timeout return

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        error_code: int | None = None,
        subcode: int | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        timeout: bool = False,
        delay: float = 5.0,
        body: dict[str, Any] | None = None,
        receipts: bool = False,
    ) -> None:
        """Make the next ``n`` requests fail: an HTTP status, a Graph error code, or no answer in time.

        ``body`` replaces the generated error body (e.g. a recorded Graph error, verbatim). Read
        receipts are not counted unless ``receipts`` is true.
        """
        failure = Failure(status, error_code, subcode, message, retry_after, timeout, delay, body, receipts)
        with self._lock:
            self._failures.extend([failure] * n)

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        self.media[media_id] = (content, mime_type)

    @property
    def sent(self) -> list[Recorded]:
        """The messages POSTed to a messages endpoint, in order (read receipts apart)."""
        return [r for r in self._posts if not _is_receipt(r)]

    @property
    def read_receipts(self) -> list[str]:
        """The message ids marked as read, in order."""
        return [r.json["message_id"] for r in self._posts if _is_receipt(r)]

    @property
    def _posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/messages")]

    # --- the API --------------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        recorded = await self._record(request)
        receipt = _is_receipt(recorded)
        early = await self._refuse(request, receipt=receipt)
        if early is not None:
            return early
        if receipt:
            return JSONResponse({"success": True})
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        body = recorded.json if isinstance(recorded.json, dict) else {}
        if body.get("messaging_product") == "whatsapp":
            return JSONResponse(self._whatsapp_sent(body))
        recipient = (body.get("recipient") or {}).get("id")
        return JSONResponse({"recipient_id": recipient, "message_id": f"m_fake{next(self._ids):06d}"})

    def _whatsapp_sent(self, body: dict[str, Any]) -> dict[str, Any]:
        # A send to a BSUID names it in "recipient" and is answered with contacts[].user_id; "to"
        # wins when both are given (Meta's business-scoped user ids page).
        to, recipient = str(body.get("to", "")), str(body.get("recipient", ""))
        contact = {"input": to, "wa_id": to.lstrip("+")} if to else {"input": recipient, "user_id": recipient}
        message: dict[str, Any] = {"id": f"wamid.FAKE{next(self._ids):06d}{secrets.token_hex(6)}"}
        if body.get("type") == "template":
            message["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}

    async def _media_lookup(self, request: Request) -> Response:
        await self._record(request)
        early = await self._refuse(request)
        if early is not None:
            return early
        media_id = request.path_params["media_id"]
        if media_id not in self.media:
            text = f"Unsupported get request. Object with ID '{media_id}' does not exist"
            return _graph_error(404, 100, text, subcode=33)
        content, mime_type = self.media[media_id]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{str(request.base_url).rstrip('/')}/media-bytes/{media_id}",
                "mime_type": mime_type,
                "sha256": "fake",
                "file_size": len(content),
                "id": media_id,
            }
        )

    async def _media_bytes(self, request: Request) -> Response:
        await self._record(request)
        if not self._authorized(request):
            return Response(b"unauthorized", status_code=401)
        found = self.media.get(request.path_params["media_id"])
        if found is None:
            return Response(b"not found", status_code=404)
        return Response(found[0], media_type=found[1])

    # --- plumbing -------------------------------------------------------------------------------

    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        try:
            parsed = await request.json() if raw else None
        except ValueError:
            parsed = None
        recorded = Recorded(
            request.method, request.url.path, dict(request.headers), dict(request.query_params), parsed, raw
        )
        with self._lock:
            self.requests.append(recorded)
        return recorded

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.access_token}"

    async def _refuse(self, request: Request, *, receipt: bool = False) -> Response | None:
        """A queued failure, else a 401 for a wrong token, else None (go on)."""
        with self._lock:
            failure = self._failures[0] if self._failures else None
            if failure is not None and (failure.receipts or not receipt):
                self._failures.popleft()
            else:
                failure = None
        if failure is not None:
            return await self._fail(failure)
        if not self._authorized(request):
            return _graph_error(401, 190, KNOWN_ERRORS[190][1], subcode=463)
        return None

    async def _fail(self, failure: Failure) -> Response:
        if failure.timeout:
            deadline = time.monotonic() + failure.delay
            while time.monotonic() < deadline and not self._closing:
                await asyncio.sleep(0.02)
            return _graph_error(504, 2, "too late: the client should have given up")
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        if failure.body is not None:
            return JSONResponse(failure.body, status_code=failure.status or 400, headers=headers)
        if failure.error_code is not None:
            default_status, text = KNOWN_ERRORS.get(failure.error_code, (400, "Graph error"))
            status = failure.status or default_status
            code = failure.error_code
        else:
            status = failure.status or 500
            code = 130429 if status == 429 else 2
            text = "(#130429) Rate limit hit" if status == 429 else "An unexpected error has occurred."
        return _graph_error(status, code, failure.message or text, subcode=failure.subcode, headers=headers)


def _is_receipt(recorded: Recorded) -> bool:
    return isinstance(recorded.json, dict) and recorded.json.get("status") == "read"


def _graph_error(
    status: int, code: int, message: str, *, subcode: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "Fake" + secrets.token_hex(8),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if status >= 500:
        error["is_transient"] = True
    return JSONResponse({"error": error}, status_code=status, headers=headers)


@pytest.fixture
def fake_meta() -> Iterator[FakeMetaGraph]:
    """A running fake Graph API; point a channel's ``settings.api_base_url`` at ``fake_meta.base_url``."""
    with FakeMetaGraph().running() as fake:
        yield fake
