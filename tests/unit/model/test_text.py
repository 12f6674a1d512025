"""Text made storable: NUL and lone surrogates become U+FFFD, infinities strings; the rest unchanged."""

from __future__ import annotations

from frontdesk.model.text import storable, storable_json


def test_unstorable_characters_are_replaced() -> None:
    assert storable("plain text") == "plain text"
    assert storable("é 😀 日本") == "é 😀 日本"
    assert storable("a\x00b\ud800c\udfff") == "a\ufffdb\ufffdc\ufffd"


def test_json_payloads_are_made_storable_throughout() -> None:
    payload = {"k\x00": ["\ud800", {"n": float("inf"), "m": float("nan"), "i": 10**30, "ok": 1.5}], "b": True}
    assert storable_json(payload) == {
        "k\ufffd": ["\ufffd", {"n": "inf", "m": "nan", "i": 10**30, "ok": 1.5}],
        "b": True,
    }
