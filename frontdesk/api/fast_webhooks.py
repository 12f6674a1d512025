"""Provider message webhooks answered straight from ASGI: the busiest paths, without the framework's
per-request machinery.

A provider's webhook needs nothing FastAPI adds to a request (dependency solving, the exception
middleware, routing over a hundred routes, response serialization through pydantic). Measured on
one core, that machinery was about half of the event loop's time for each accepted Meta webhook
(~110 of ~220 µs). This middleware, installed inside ``BodySizeLimit`` (which still refuses an
oversized body with 413), answers the POSTs of ``PATHS`` itself, with the functions their routes in
``api/webhooks.py`` use (``build_raw``, ``receive``, ``twilio_answer``) and the errors of
``api/errors.py``, so both answer alike (tests/integration/api/test_fast_webhooks.py compares them).
The routes still describe the operations in the OpenAPI document. Every other request goes on to
the application.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from frontdesk.api import errors
from frontdesk.api.webhooks import build_raw, twilio_answer
from frontdesk.errors import FrontdeskError
from frontdesk.pipeline.receive import receive
from frontdesk.runtime import Runtime

# POST path → provider: the webhooks of api/webhooks.py and their seed paths (api/legacy.py).
PATHS = {
    "/webhooks/meta": "meta",
    "/webhook": "meta",
    "/webhooks/twilio": "twilio",
    "/api/v1/channels/whatsapp/webhook": "twilio",
}


class FastWebhooks:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive_: Receive, send: Send) -> None:
        provider = PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if provider is None or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive_, send)
            return
        try:
            body = await _body(receive_)
        except ClientDisconnect:
            return  # nobody to answer; nothing was read, so nothing was stored
        response = await self._answer(provider, scope, body)
        await response(scope, receive_, send)

    async def _answer(self, provider: str, scope: Scope, body: bytes) -> Response:
        rt = self.rt
        try:
            adapter = rt.adapters.get(provider)
            receipt = (await receive(rt, adapter, build_raw(rt, adapter, scope, body))).as_dict()
        except FrontdeskError as exc:
            return errors.frontdesk_error(exc)
        except DataError as exc:
            return errors.data_error(scope["path"], exc)
        except Exception:
            return errors.unexpected_error(scope["path"])
        if provider == "twilio":
            accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
            return twilio_answer(accept.decode("latin-1"), receipt)
        return JSONResponse(receipt)


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
