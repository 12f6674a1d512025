"""A fake Google Calendar (REST v3 subset) and OAuth token endpoint, served over real HTTP in tests.

It checks what the real one checks that matters to us: the service account's JWT signature and
audience, Bearer tokens, client-chosen event ids (409 when taken, also by a deleted event), 404
for unknown events and 410 for deleted ones, time-range listing with paging.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _instant(value: dict[str, str]) -> datetime:
    text = value.get("dateTime") or value["date"] + "T00:00:00+00:00"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeGoogle:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.events: dict[str, dict[str, dict[str, Any]]] = {}  # calendar id → event id → event
        self.tokens: set[str] = {"static-token"}
        self.token_requests: list[dict[str, str]] = []
        self.calls: list[str] = []
        self.fail_next = 0
        self.page_size = 2
        self.base_url = ""  # set once served
        self.app = self._build()

    def service_account(self) -> dict[str, str]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "client_email": "booking-bot@shop.iam.gserviceaccount.com",
            "private_key_id": "key-1",
            "private_key": pem,
            "token_uri": f"{self.base_url}/token",
        }

    def revoke_tokens(self) -> None:
        self.tokens = {"static-token"}

    def _verify(self, assertion: str) -> dict[str, Any] | None:
        header, claims, signature = assertion.split(".")
        try:
            self.key.public_key().verify(
                _unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return None
        return json.loads(_unb64(claims))

    def _issue(self) -> JSONResponse:
        token = "ya29." + secrets.token_hex(8)
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            self.token_requests.append(form)
            if form.get("grant_type") == "refresh_token":
                good = (form.get("client_id"), form.get("client_secret"), form.get("refresh_token")) == (
                    "client-1",
                    "client-secret",
                    "refresh-1",
                )
                return self._issue() if good else JSONResponse({"error": "invalid_grant"}, status_code=400)
            claims = self._verify(form.get("assertion", ""))
            if (
                not claims
                or claims.get("aud") != f"{self.base_url}/token"
                or "calendar" not in claims["scope"]
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return self._issue()

        @app.middleware("http")
        async def gate(request: Request, call_next: Any) -> Response:
            if request.url.path == "/token":
                return await call_next(request)
            self.calls.append(f"{request.method} {request.url.path}")
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": {"code": 503, "message": "Backend Error"}}, status_code=503)
            auth = request.headers.get("authorization", "")
            if auth.removeprefix("Bearer ") not in self.tokens:
                return JSONResponse(
                    {"error": {"code": 401, "message": "Invalid Credentials"}}, status_code=401
                )
            return await call_next(request)

        @app.post("/calendars/{calendar_id}/events")
        async def insert(calendar_id: str, request: Request) -> Response:
            body = await request.json()
            events = self.events.setdefault(calendar_id, {})
            event_id = body.get("id") or secrets.token_hex(10)
            if event_id in events:
                return JSONResponse({"error": {"code": 409, "message": "duplicate"}}, status_code=409)
            events[event_id] = {"status": "confirmed", **body, "id": event_id}
            return JSONResponse(events[event_id])

        @app.put("/calendars/{calendar_id}/events/{event_id}")
        async def update(calendar_id: str, event_id: str, request: Request) -> Response:
            events = self.events.setdefault(calendar_id, {})
            if event_id not in events:
                return JSONResponse({"error": {"code": 404, "message": "Not Found"}}, status_code=404)
            events[event_id] = {"status": "confirmed", **(await request.json()), "id": event_id}
            return JSONResponse(events[event_id])

        @app.delete("/calendars/{calendar_id}/events/{event_id}")
        async def delete(calendar_id: str, event_id: str) -> Response:
            event = self.events.get(calendar_id, {}).get(event_id)
            if event is None:
                return JSONResponse({"error": {"code": 404, "message": "Not Found"}}, status_code=404)
            if event["status"] == "cancelled":
                return JSONResponse(
                    {"error": {"code": 410, "message": "Resource has been deleted"}}, status_code=410
                )
            event["status"] = "cancelled"
            return Response(status_code=204)

        @app.get("/calendars/{calendar_id}/events")
        async def listing(calendar_id: str, timeMin: str, timeMax: str, pageToken: str = "0") -> Response:
            lo, hi = _instant({"dateTime": timeMin}), _instant({"dateTime": timeMax})
            found = [
                e
                for e in self.events.get(calendar_id, {}).values()
                if e["status"] != "cancelled" and _instant(e["start"]) < hi and _instant(e["end"]) > lo
            ]
            offset = int(pageToken)
            page: dict[str, Any] = {"items": found[offset : offset + self.page_size]}
            if offset + self.page_size < len(found):
                page["nextPageToken"] = str(offset + self.page_size)
            return JSONResponse(page)

        return app
