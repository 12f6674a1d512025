"""Reading Meta's JSON: what the adapter, the send-body builders and both webhook dialects share.

Meta's bodies are untrusted even once signed, and Meta adds shapes over time, so the getters here
answer an empty value for a wrong type instead of raising (``required`` raises, for a parser to
catch and keep the content raw). The webhook dialects (``meta_parse_whatsapp``,
``meta_parse_messenger``) also share how they date events, name events Meta gives no id, and set
apart messages without a sender.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from frontdesk.model.messages import InboundMessage, UnattributedMessage

Content = tuple[str, str, dict[str, Any]]  # kind, text, payload of one inbound message


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def required(container: Any, key: str) -> str:
    """``container[key]`` as a string; KeyError or TypeError otherwise, for the parser to catch."""
    value = as_str(container[key])
    if value is None:
        raise TypeError(f"{key!r} is not a string")
    return value


def from_epoch(value: Any, *, millis: bool) -> datetime | None:
    """A webhook timestamp (Unix seconds, or milliseconds on Messenger) as UTC; None if unreadable."""
    try:
        seconds = float(value) / (1000 if millis else 1)
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def digest(event: Any) -> str:
    """A stable id for events Meta gives none: a redelivery hashes the same, so dedup still holds."""
    try:
        text = json.dumps(event, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = repr(event)
    return "meta-" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def attributed(messages: list[InboundMessage], raw: Any) -> list[InboundMessage | UnattributedMessage]:
    """The messages, those without a sender set apart as unattributed (kept raw, never dropped)."""
    # With no sender there is no conversation to show the message in, but Meta will not send it
    # again once answered 200: it is stored on its own for a person to see.
    return [
        msg
        if msg.sender
        else UnattributedMessage(msg.provider_message_id, "the message names no sender", raw)
        for msg in messages
    ]
