"""Personal data out of logs and traces: phone numbers, e-mail addresses, WhatsApp business-scoped
user ids and names become short hashes.

The hash is an HMAC with a key derived from the deployment's secret key, so the same customer
always gets the same hash (runs can be correlated) while a hash cannot be reversed by hashing every
possible phone number, as a plain SHA-256 could. ``FRONTDESK_LOG_PII=true`` reveals the clear values
in logs (``reveal=True``); stored traces are always redacted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A BSUID names the customer as surely as their number does (model.bsuid); its country prefix
# stays out too, so the whole id is hashed, before the number rule could take only its digits.
# Ids carry digits; words like "OK.Thanks" do not, and stay.
BSUID = re.compile(r"(?<![\w.])[A-Z]{2}\.(?:ENT\.)?(?=[A-Za-z]*\d)[A-Za-z0-9]{4,128}(?!\w)")
# A run of digits with the separators people write numbers with; judged by ``_is_phone``.
NUMBER = re.compile(r"\+?\d[\d ().-]{5,}\d")
NON_DIGIT = re.compile(r"[^\d+]")
DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
# Tool arguments whose whole value identifies a person.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "customer_name",
        "contact_name",
        "full_name",
        "first_name",
        "last_name",
        "phone",
        "phone_number",
        "customer_phone",
        "email",
        "customer_email",
        "address",
        "contact_address",
        "sender",
        "recipient",
        "to",
        "from",
        # WhatsApp's names for a customer: business-scoped user ids, the username, the number.
        "bsuid",
        "parent_bsuid",
        "user_id",
        "parent_user_id",
        "from_user_id",
        "recipient_user_id",
        "recipient_parent_user_id",
        "username",
        "handle",
        "wa_id",
    }
)


def pii_hash(value: str, key: bytes = b"") -> str:
    """A short stable hash of ``value`` (case and surrounding blanks ignored)."""
    digest = hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()
    return digest[:12]


def _is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if candidate.startswith("+"):
        return digits >= 7
    # Without a "+", only long numbers, and never dates or ISO timestamps (tool arguments are full of them).
    return digits >= 9 and not DATE_PREFIX.match(candidate)


class Redactor:
    """Redacts with one key; ``reveal=True`` turns every method into the identity (FRONTDESK_LOG_PII)."""

    def __init__(self, key: bytes = b"", *, reveal: bool = False) -> None:
        self.key = key
        self.reveal = reveal

    def hash(self, value: str) -> str:
        return pii_hash(value, self.key)

    def user(self, address: str) -> str:
        """How a customer's address (phone, chat id, e-mail) appears: ``user=<hash>``."""
        if self.reveal or not address:
            return address
        return self.hash(address)

    def message(self, text: str) -> str:
        """Message text in a log line: left out, only its length shows."""
        if self.reveal:
            return text
        return f"<{len(text)} chars>"

    def text(self, text: str) -> str:
        """Free text with every phone number and e-mail address replaced by its hash."""
        if self.reveal or not text:
            return text
        text = EMAIL.sub(lambda m: f"<email:{self.hash(m.group())}>", text)
        text = BSUID.sub(lambda m: f"<bsuid:{self.hash(m.group())}>", text)

        def phone(m: re.Match[str]) -> str:
            found = m.group()
            if not _is_phone(found):
                return found
            return f"<phone:{self.hash(NON_DIGIT.sub('', found))}>"

        return NUMBER.sub(phone, text)

    def value(self, obj: Any, key: str | None = None) -> Any:
        """A JSON-like value (tool arguments, results) with personal data redacted, recursively."""
        if self.reveal:
            return obj
        if key is not None and key.lower() in PERSONAL_KEYS and isinstance(obj, str | int) and obj != "":
            return f"<redacted:{self.hash(str(obj))}>"
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {k: self.value(v, str(k)) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v, key) for v in obj]
        return obj
