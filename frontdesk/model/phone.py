"""Phone numbers in E.164, checked with ``phonenumbers``."""

from __future__ import annotations

import functools
import re

import phonenumbers

E164_SHAPE = re.compile(r"^\+[1-9]\d{6,14}$")


def normalize_e164(raw: str) -> str:
    """Return ``raw`` as E.164, or raise ValueError saying what is wrong and the expected form.

    Numbers must carry their country code. Fictional but well-formed numbers (seed 000's
    +1234567890) are accepted: a business configuring a test number should not be blocked by the
    numbering plan, only by a malformed string.
    """
    if not isinstance(raw, str):
        return _normalize(raw)
    outcome = _normalized(raw)
    if isinstance(outcome, ValueError):
        raise ValueError(*outcome.args)
    return outcome


# Every inbound WhatsApp or SMS message checks its sender's number: a known customer's is answered
# from here (phonenumbers costs ~50 µs a number). Bounded, so a flood of distinct strings only
# evicts.
@functools.lru_cache(maxsize=16_384)
def _normalized(raw: str) -> str | ValueError:
    try:
        return _normalize(raw)
    except ValueError as exc:
        return exc


def _normalize(raw: str) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    cleaned = re.sub(r"[\s().-]", "", text)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not cleaned.startswith("+"):
        raise ValueError(
            f"Phone number {raw!r} must start with '+' and the country code, in E.164 form like +14155550123"
        )
    try:
        parsed = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            f"Phone number {raw!r} is not a phone number ({exc._msg}); expected E.164 like +14155550123"
        ) from None
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not E164_SHAPE.match(formatted) or formatted != cleaned:
        raise ValueError(
            f"Phone number {raw!r} has {len(cleaned) - 1} digits; E.164 allows 7 to 15 digits after '+', "
            "like +14155550123"
        )
    return formatted


def is_e164(raw: str) -> bool:
    try:
        normalize_e164(raw)
    except ValueError:
        return False
    return True
