"""Redaction of personal data in logs and traces."""

from __future__ import annotations

import json

from frontdesk.security.redact import Redactor, pii_hash

KEY = b"k" * 32


def test_phone_numbers_and_emails_become_stable_hashes() -> None:
    r = Redactor(KEY)
    text = r.text("Call +1 (415) 555-0123 or mail Ann.Lee@example.com, or 0612345678")
    assert "555" not in text and "example.com" not in text and "0612345678" not in text
    assert f"<phone:{pii_hash('+14155550123', KEY)}>" in text
    assert f"<email:{pii_hash('ann.lee@example.com', KEY)}>" in text
    assert r.text("ring +14155550123") == f"ring <phone:{pii_hash('+14155550123', KEY)}>"


def test_dates_times_and_short_numbers_stay() -> None:
    r = Redactor(KEY)
    for text in (
        "2026-05-12T10:00:00+02:00",
        "on 12/05/2026 at 10:30",
        "booking 2026-05-12 10:00 for 2 people",
        "room 1234, order 98765",
    ):
        assert r.text(text) == text


def test_hash_depends_on_the_key_and_ignores_case() -> None:
    assert pii_hash("A@B.co", KEY) == pii_hash(" a@b.co ", KEY)
    assert pii_hash("a@b.co", KEY) != pii_hash("a@b.co", b"other")
    assert len(pii_hash("x", KEY)) == 12


def test_values_redact_personal_keys_recursively() -> None:
    r = Redactor(KEY)
    args = {
        "customer_name": "Ann Lee",
        "service": "Haircut",
        "start": "2026-05-12T10:00",
        "contact": {"email": "ann@example.com", "note": "call +33612345678"},
        "guests": [{"name": "Bob"}],
        "count": 3,
    }
    out = r.value(args)
    assert out["customer_name"] == f"<redacted:{pii_hash('Ann Lee', KEY)}>"
    assert out["service"] == "Haircut" and out["start"] == "2026-05-12T10:00" and out["count"] == 3
    assert out["contact"]["email"].startswith("<redacted:")
    assert out["contact"]["note"] == f"call <phone:{pii_hash('+33612345678', KEY)}>"
    assert out["guests"][0]["name"].startswith("<redacted:")
    assert "Ann" not in str(out) and "Bob" not in str(out)


def test_log_helpers_and_reveal() -> None:
    hidden, shown = Redactor(KEY), Redactor(KEY, reveal=True)
    assert hidden.user("+14155550123") == pii_hash("+14155550123", KEY)
    assert hidden.message("my wedding is on the 5th") == "<24 chars>"
    assert shown.user("+14155550123") == "+14155550123"
    assert shown.message("hello") == "hello"
    assert shown.value({"name": "Ann"}) == {"name": "Ann"}
    assert hidden.user("") == ""


def test_business_scoped_user_ids_are_personal_data_like_numbers() -> None:
    r = Redactor(KEY)
    bsuid, parent = "US.13491208655302741918", "US.ENT.11815799212886844830"
    text = r.text(f"customer {bsuid} (parent {parent}), alphanumeric BR.15025AB76394655843.")
    assert "13491208655302741918" not in text and "1181579921" not in text and "15025AB" not in text
    assert f"<bsuid:{pii_hash(bsuid, KEY)}>" in text and "US." not in text
    assert r.text("OK.Thanks, see v2.1 and NO.WAY") == "OK.Thanks, see v2.1 and NO.WAY"
    args = {"user_id": bsuid, "username": "ana.b", "wa_id": "972987654321", "note": f"for {bsuid}"}
    redacted = r.value(args)
    assert bsuid not in json.dumps(redacted) and "ana.b" not in json.dumps(redacted)
    assert "972987654321" not in json.dumps(redacted)
