"""The busiest POSTs answered straight from ASGI, without the framework's per-request machinery:
provider message webhooks and web chat messages.

Neither needs what FastAPI adds to a request (dependency solving, the exception middleware, routing
over a hundred routes, response serialization through pydantic). Measured on one core, that
machinery was about half of the event loop's time for each accepted Meta webhook (~110 of
~220 µs), and ~50 µs of each web chat message. This middleware, installed inside
``BodySizeLimit`` (which still refuses an oversized body with 413), answers the POSTs of
``WEBHOOKS`` and ``WEBCHAT`` itself, with the functions their routes use (``webhooks.build_raw``,
``receive``, ``webhooks.twilio_answer``; ``webchat.accept``) and the errors of ``api/errors.py``,
so both answer alike (tests/integration/api/test_fast_paths.py compares them). A web chat body
that is not a valid message is handed to the route itself, with the body it sent, so a 422 says
exactly what FastAPI says. The routes still describe the operations in the OpenAPI document.
Every other request goes on to the application.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from sqlalchemy.exc import DataError
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontdesk.api import errors, webchat
from frontdesk.api.webhooks import build_raw, twilio_answer
from frontdesk.errors import FrontdeskError
from frontdesk.pipeline.receive import receive
from frontdesk.runtime import Runtime

# POST path → provider: the webhooks of api/webhooks.py and their seed paths (api/legacy.py).
WEBHOOKS = {
    "/webhooks/meta": "meta",
    "/webhook": "meta",
    "/webhooks/twilio": "twilio",
    "/api/v1/channels/whatsapp/webhook": "twilio",
}
# POST /webchat/{channel_id}/messages (Starlette's default path parameter: no slash).
WEBCHAT = re.compile(r"/webchat/([^/]+)/messages")


class FastPaths:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive_: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive_, send)
            return
        path = scope["path"]
        provider = WEBHOOKS.get(path)
        chat = None if provider is not None else WEBCHAT.fullmatch(path)
        if provider is None and (chat is None or not _is_json(scope)):
            await self.app(scope, receive_, send)
            return
        try:
            body = await _body(receive_)
        except ClientDisconnect:
            return  # nobody to answer; nothing was read, so nothing was stored
        if provider is not None:
            response = await self._answer(path, lambda: self._webhook(provider, scope, body))
        else:
            assert chat is not None
            try:
                message = webchat.MessageIn.model_validate(json.loads(body))
            except (ValueError, ValidationError):  # the route says what is wrong, as it always does
                await self.app(scope, _replay(body, receive_), send)
                return
            response = await self._answer(path, lambda: self._webchat(scope, chat.group(1), message))
        await response(scope, receive_, send)

    async def _answer(self, path: str, work: Callable[[], Awaitable[Response]]) -> Response:
        try:
            return await work()
        except FrontdeskError as exc:
            return errors.frontdesk_error(exc)
        except DataError as exc:
            return errors.data_error(path, exc)
        except Exception:
            return errors.unexpected_error(path)

    async def _webhook(self, provider: str, scope: Scope, body: bytes) -> Response:
        rt = self.rt
        adapter = rt.adapters.get(provider)
        receipt = (await receive(rt, adapter, build_raw(rt, adapter, scope, body))).as_dict()
        if provider == "twilio":
            accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
            return twilio_answer(accept.decode("latin-1"), receipt)
        return JSONResponse(receipt)

    async def _webchat(self, scope: Scope, channel_id: str, message: webchat.MessageIn) -> Response:
        signer = scope["app"].state.webchat_signer
        return JSONResponse(await webchat.accept(self.rt, signer, channel_id, message), status_code=202)


def _is_json(scope: Scope) -> bool:
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    return content_type.split(b";")[0].strip().lower() == b"application/json"


async def _body(receive_: Receive) -> bytes:
    """The whole request body (``BodySizeLimit`` outside stops one that grows past the limit)."""
    chunks: list[bytes] = []
    while True:
        message = await receive_()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive_: Receive) -> Receive:
    """A ``receive`` that gives ``body`` again, then whatever the client sends next (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive_()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
