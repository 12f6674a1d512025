"""The remote agent's contract pieces: the answer's shape, config checks (signing: tests/unit/security)."""

from __future__ import annotations

import re

import pytest

from frontdesk.agents.remote import BadAnswer, config_errors, parse_answer
from frontdesk.settings import Settings


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
