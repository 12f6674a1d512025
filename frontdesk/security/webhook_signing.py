"""Signing outgoing webhooks the Standard Webhooks way (https://www.standardwebhooks.com).

Three headers: ``webhook-id`` (the same for every attempt of one message, so a receiver can drop
repeats), ``webhook-timestamp`` (seconds since the epoch, per attempt) and ``webhook-signature``:
``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")).

The secret follows the spec: ``whsec_`` + base64 of the key bytes, and the key is the decoded
part. A secret without that prefix is used as its UTF-8 bytes, for receivers configured with a
plain shared string; the Standard Webhooks libraries expect the ``whsec_`` form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

PREFIX = "whsec_"
MIN_KEY_BYTES = 16


def secret_key(secret: str) -> bytes:
    """The HMAC key of ``secret``; ValueError for a ``whsec_`` secret that is not base64."""
    if secret.startswith(PREFIX):
        try:
            return base64.b64decode(secret[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a 'whsec_' secret must be followed by base64 (the key bytes)") from None
    return secret.encode()


def check_secret(secret: str) -> str | None:
    """What is wrong with ``secret`` as a signing secret, or None."""
    try:
        key = secret_key(secret)
    except ValueError as exc:
        return str(exc)
    if len(key) < MIN_KEY_BYTES:
        return f"the signing key must be at least {MIN_KEY_BYTES} bytes long (got {len(key)})"
    return None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str | None, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers (no signature without a secret)."""
    timestamp = int(time.time() if now is None else now)
    out = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret:
        out["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return out
