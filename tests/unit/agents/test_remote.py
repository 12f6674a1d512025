"""The remote agent's contract pieces: Standard Webhooks signing, the answer's shape, config checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from frontdesk.agents.remote import BadAnswer, config_errors, parse_answer
from frontdesk.security import webhook_signing
from frontdesk.settings import Settings

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


def _fields(body: bytes) -> tuple:
    reply = parse_answer(body)
    return reply.texts, reply.confidence, reply.handoff, reply.reason, reply.buttons


def test_answers_in_both_reply_shapes() -> None:
    assert _fields(b'{"replies": ["a", {"text": "b"}], "confidence": 0.4}') == (
        ["a", "b"],
        0.4,
        False,
        None,
        [],
    )
    assert _fields(b'{"replies": [], "handoff": true, "reason": "vip"}') == ([], 1.0, True, "vip", [])
    assert _fields(b'{"replies": ["  ", "x"], "confidence": 1}') == (["x"], 1.0, False, None, [])
    assert parse_answer(b'{"replies": ["Which?"], "buttons": ["Yes", "No", "Yes"]}').buttons == ["Yes", "No"]
    with pytest.raises(BadAnswer, match="buttons"):
        parse_answer(b'{"replies": ["Which?"], "buttons": "Yes"}')


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b'["a"]', '"replies" list'),
        (b'{"reply": "a"}', '"replies" list'),
        (b'{"replies": "a"}', '"replies" list'),
        (b'{"replies": [3]}', "replies[0]"),
        (b'{"replies": [{"message": "a"}]}', "replies[0]"),
        (b'{"replies": ["a"], "confidence": 1.5}', "confidence"),
        (b'{"replies": ["a"], "confidence": "high"}', "confidence"),
        (b'{"replies": ["a"], "confidence": true}', "confidence"),
        (b'{"replies": ["a"], "handoff": "yes"}', "handoff"),
    ],
)
def test_malformed_answers(body: bytes, problem: str) -> None:
    with pytest.raises(BadAnswer, match=re.escape(problem)):
        parse_answer(body)


def test_config_requires_https_unless_allowed() -> None:
    plain = Settings(database_url="sqlite+aiosqlite://")
    assert config_errors({"url": "https://agents.example.com/turn"}, plain) == []
    problems = config_errors({"url": "http://agents.example.com/turn"}, plain)
    assert [p["field"] for p in problems] == ["config.url"] and "must use https://" in problems[0]["message"]
    allowed = Settings(database_url="sqlite+aiosqlite://", http_actions_allow="agents.example.com")
    assert config_errors({"url": "http://agents.example.com/turn"}, allowed) == []
    by_cidr = Settings(database_url="sqlite+aiosqlite://", http_actions_allow="127.0.0.0/8")
    assert config_errors({"url": "http://127.0.0.1:9000/turn"}, by_cidr) == []
    dev = Settings(database_url="sqlite+aiosqlite://", dev_mode=True)
    assert config_errors({"url": "http://agents.example.com/turn"}, dev) == []


def test_config_checks_secret_and_numbers() -> None:
    plain = Settings(database_url="sqlite+aiosqlite://")
    problems = config_errors({"url": "ftp://x", "secret": "whsec_%%%", "timeout_s": 0}, plain)
    assert [p["field"] for p in problems] == ["config.timeout_s"]
    problems = config_errors({"url": "ftp://x", "secret": "whsec_%%%"}, plain)
    assert [p["field"] for p in problems] == ["config.url", "config.secret"]
