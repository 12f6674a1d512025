"""A remote agent for Frontdesk: verifies each signed turn and answers it (docs/remote-agents.md).

Run it::

    pip install starlette uvicorn
    REMOTE_AGENT_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw python examples/remote_agent_receiver.py

and point a ``remote`` agent at ``https://<your host>/frontdesk/turn`` with the same secret. Replace
``answer`` with your own agent (an Azure AI Foundry thread, a Langflow flow, an ElizaOS character…).
It needs nothing from Frontdesk itself: copy it anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOLERANCE_S = 5 * 60  # refuse replayed requests older (or newer) than this


def signing_key(secret: str) -> bytes:
    # Standard Webhooks: "whsec_" + base64 of the key. Anything else is used as its UTF-8 bytes.
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def verify(secret: str, headers: Any, body: bytes, now: float | None = None) -> bool:
    """True if ``body`` carries a valid, fresh Standard Webhooks signature made with ``secret``."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and timestamp.isdigit() and signatures):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_S:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()
    # The header may carry several signatures (during a secret rotation), space-separated.
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def answer(turn: dict[str, Any]) -> dict[str, Any]:
    """Your agent goes here. This one echoes, and asks for a person when the customer does."""
    text = " ".join(m["text"] for m in turn["messages"] if m.get("text"))
    name = (turn.get("contact") or {}).get("name") or "there"
    if "human" in text.lower() or "person" in text.lower():
        return {"replies": ["Of course, a colleague will take over."], "handoff": True, "reason": "asked"}
    return {"replies": [f"Hi {name}! You wrote: {text}"], "confidence": 0.9}


def create_app(secret: str) -> Starlette:
    async def turn(request: Request) -> JSONResponse:
        body = await request.body()
        if not verify(secret, request.headers, body):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        # A retry of the same turn has the same webhook-id: a receiver with side effects (orders,
        # bookings) keeps its answer by that id and returns it again instead of acting twice.
        return JSONResponse(answer(json.loads(body)))

    return Starlette(routes=[Route("/frontdesk/turn", turn, methods=["POST"])])


if __name__ == "__main__":
    import uvicorn

    secret = os.environ.get("REMOTE_AGENT_SECRET", "")
    if not secret:
        raise SystemExit("set REMOTE_AGENT_SECRET to the secret configured on the Frontdesk agent")
    uvicorn.run(
        create_app(secret), host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8080"))
    )
