"""Standard Webhooks signing (the remote agent's calls): the spec's vector, headers, secret checks."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from frontdesk.security import webhook_signing

# The Standard Webhooks specification's published example.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def reference_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Computed here from the spec's words, independently of the code under test."""
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_reference_vector() -> None:
    assert reference_signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    assert webhook_signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


def test_headers_carry_id_timestamp_and_signature() -> None:
    got = webhook_signing.headers(SPEC_SECRET, SPEC_ID, SPEC_BODY, now=SPEC_TS + 0.7)
    assert got == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert "webhook-signature" not in webhook_signing.headers(None, SPEC_ID, SPEC_BODY)


def test_plain_secret_is_used_as_its_bytes() -> None:
    secret = "a plain shared string, long enough"
    expected = hmac.new(secret.encode(), b"m.1.{}", hashlib.sha256).digest()
    assert webhook_signing.sign(secret, "m", 1, b"{}") == "v1," + base64.b64encode(expected).decode()


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("whsec_not*base64!", "must be followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "at least 16 bytes"),
        ("tiny", "at least 16 bytes"),
    ],
)
def test_weak_or_malformed_secrets(secret: str, problem: str) -> None:
    assert problem in (webhook_signing.check_secret(secret) or "")


def test_good_secrets() -> None:
    assert webhook_signing.check_secret(SPEC_SECRET) is None
    assert webhook_signing.check_secret("0123456789abcdef") is None
