"""A fake Twilio REST API: the Messages resource, media downloads, and signed status callbacks.

Serve ``FakeTwilio().app`` with ``tests.fakes.server.run_app`` and point a channel's
``settings.api_base_url`` at the URL it yields. Every request is recorded; ``fail_next`` makes the
next sends fail the way Twilio does (error JSON, 5xx, 429 with Retry-After, or no answer at all).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from frontdesk.channels.twilio import twilio_signature
from frontdesk.model.bsuid import is_bsuid

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"

# Status and message Twilio answers with for the error codes tests ask for.
ERRORS = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21602: (400, "Message body is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    63016: (
        400,
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template.",
    ),
}


@dataclass
class Recorded:
    method: str
    path: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    items: list[tuple[str, str]]
    answered: int = 0


@dataclass
class Failure:
    status: int | None = None
    code: int | None = None
    retry_after: str | None = None
    timeout: bool = False


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    hang_seconds: float = 2.0  # how long a "timeout" failure keeps the client waiting
    requests: list[Recorded] = field(default_factory=list)
    sent: dict[str, dict[str, str]] = field(default_factory=dict)  # sid → form of each accepted message
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path → (bytes, content type)
    _failures: list[Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{account}/Messages.json", self._create_message, methods=["POST"]),
                Route("/2010-04-01/Accounts/{account}/Messages/{msg}/Media/{media}", self._media),
            ]
        )

    def reset(self) -> None:
        """Forget recorded requests, sent messages, media and pending failures."""
        self.requests.clear()
        self.sent.clear()
        self.media.clear()
        self._failures.clear()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after: str | None = None,
        timeout: bool = False,
    ) -> None:
        """Make the next ``n`` sends fail: with ``status`` (default: the code's own, else 500),
        Twilio error ``code``, a Retry-After header, or by not answering before ``hang_seconds``."""
        self._failures.extend(Failure(status, code, retry_after, timeout) for _ in range(n))

    def add_media(self, message_sid: str, data: bytes, content_type: str) -> str:
        """Store a media item; its path (append to the base URL) as Twilio puts it in MediaUrl0."""
        media_sid = "ME" + secrets.token_hex(16)
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"
        self.media[path] = (data, content_type)
        return path

    async def deliver_status(
        self, sid: str, status: str, *, error_code: str | None = None, http: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        """Post a signed status callback for a message sent through this fake to its StatusCallback."""
        form = self.sent[sid]
        params = status_params(sid, status, to=form["To"], from_=form.get("From", ""), error_code=error_code)
        params["AccountSid"] = self.account_sid
        return await post_signed(form["StatusCallback"], params, self.auth_token, http=http)

    async def _create_message(self, request: Request) -> Response:
        recorded = await self._record(request)
        account = request.path_params["account"]
        if account != self.account_sid or recorded.auth != (self.account_sid, self.auth_token):
            return self._answer(recorded, _error(20003))
        if self._failures:
            return await self._fail(recorded, self._failures.pop(0))
        rejection = _validate(recorded.form)
        if rejection is not None:
            return self._answer(recorded, rejection)
        sid = "SM" + secrets.token_hex(16)
        self.sent[sid] = recorded.form
        return self._answer(recorded, JSONResponse(_message_resource(self.account_sid, sid, recorded), 201))

    async def _media(self, request: Request) -> Response:
        recorded = await self._record(request)
        if recorded.auth != (self.account_sid, self.auth_token):
            return self._answer(recorded, _error(20003))
        stored = self.media.get(request.url.path)
        if stored is None:
            return self._answer(recorded, JSONResponse({"code": 20404, "status": 404}, 404))
        return self._answer(recorded, Response(stored[0], media_type=stored[1]))

    async def _fail(self, recorded: Recorded, failure: Failure) -> Response:
        if failure.timeout:
            await asyncio.sleep(self.hang_seconds)
        status = failure.status or ERRORS.get(failure.code or 0, (500, ""))[0]
        code = failure.code or (20429 if status == 429 else 20500)
        body = _error_body(code, recorded.form.get("To", ""), status)
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
        return self._answer(recorded, JSONResponse(body, status, headers=headers))

    async def _record(self, request: Request) -> Recorded:
        items = list((await request.form()).multi_items()) if request.method == "POST" else []
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            auth=_basic_auth(request.headers.get("authorization", "")),
            form={k: str(v) for k, v in items},
            items=[(k, str(v)) for k, v in items],
        )
        self.requests.append(recorded)
        return recorded

    @staticmethod
    def _answer(recorded: Recorded, response: Response) -> Response:
        recorded.answered = response.status_code
        return response


def status_params(
    sid: str, status: str, *, to: str, from_: str, error_code: str | None = None
) -> dict[str, str]:
    """A status callback body shaped like Twilio's (fixtures status_whatsapp_*.form)."""
    params = {"SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "MessageSid": sid}
    params.update(To=to, From=from_, ApiVersion="2010-04-01")
    if error_code:
        params["ErrorCode"] = error_code
    return params


async def post_signed(
    url: str, params: dict[str, str], auth_token: str, *, http: httpx.AsyncClient | None = None
) -> httpx.Response:
    """POST ``params`` form-encoded to ``url`` with the X-Twilio-Signature Twilio would send."""
    headers = {"X-Twilio-Signature": twilio_signature(url, params, auth_token)}
    if http is not None:
        return await http.post(url, data=params, headers=headers)
    async with httpx.AsyncClient() as client:
        return await client.post(url, data=params, headers=headers)


def _validate(form: dict[str, str]) -> Response | None:
    to = form.get("To", "")
    if not to:
        return _error(21604)
    number = to.removeprefix("whatsapp:")
    # WhatsApp also reaches a business-scoped user id, written without "+" ("whatsapp:US.1349…").
    bsuid = to.startswith("whatsapp:") and is_bsuid(number)
    if not bsuid and not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
        return _error(21211, to)
    if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
        return _error(21602)
    return None


def _message_resource(account_sid: str, sid: str, recorded: Recorded) -> dict:
    """The resource Twilio returns on create (fixture send_message_response_docs_example.json)."""
    form = recorded.form
    now = format_datetime(datetime.now(UTC))
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form.get("Body", ""),
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "num_media": str(sum(1 for k, _ in recorded.items if k == "MediaUrl")),
        "num_segments": "1",
        "price": None,
        "price_unit": None,
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "sid": sid,
        "status": "accepted" if form.get("MessagingServiceSid") else "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": form.get("To"),
        "uri": f"{uri}.json",
    }


def _error(code: int, to: str = "") -> JSONResponse:
    status = ERRORS[code][0]
    return JSONResponse(
        _error_body(code, to, status),
        status,
        headers={"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None,
    )


def _error_body(code: int, to: str, status: int) -> dict:
    message = ERRORS.get(code, (status, "Internal Server Error"))[1].format(to=to)
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return (user, password) if sep else None
