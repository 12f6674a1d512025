"""Meta webhook bodies → normalized events, for WhatsApp Cloud API and Messenger / Instagram.

WhatsApp nests events under ``entry[].changes[].value`` (one ``phone_number_id`` per change);
Messenger and Instagram put them in ``entry[].messaging[]``. Bodies are untrusted even once signed,
since Meta adds shapes over time: nothing indexes blindly, and a message whose content has an
unexpected shape becomes kind "unsupported" (kept raw, stored and shown) instead of failing the
webhook, which Meta would otherwise redeliver for days.

This module reads the envelope both share and says which channels a webhook is for; each dialect's
entries are read in ``meta_parse_whatsapp`` and ``meta_parse_messenger``.
"""

from __future__ import annotations

import functools
import json
import reprlib
from typing import Any

from frontdesk.channels.meta_json import as_dict, as_list, as_str
from frontdesk.channels.meta_parse_messenger import business_side, messaging_entry
from frontdesk.channels.meta_parse_whatsapp import phone_number_id, whatsapp_entry
from frontdesk.errors import BadRequest
from frontdesk.model.messages import InboundEvent

WHATSAPP = "whatsapp_business_account"
MESSAGING_OBJECTS = ("page", "instagram")


@functools.lru_cache(maxsize=16)
def load_envelope(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The webhook's ``object`` and its entries; BadRequest when the body is not a Meta webhook.

    Routing and parsing each read the body: the cache parses it once (callers never change what it
    returns). A refused body raises each time (exceptions are not cached)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("Meta webhook body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("Meta webhook body must be a JSON object with 'object' and 'entry'")
    kind = doc.get("object")
    if kind != WHATSAPP and kind not in MESSAGING_OBJECTS:
        raise BadRequest(
            f"unknown Meta webhook object {reprlib.repr(kind)}: "
            "expected 'whatsapp_business_account', 'page' or 'instagram'"
        )
    entries = doc.get("entry")
    if not isinstance(entries, list):
        raise BadRequest("Meta webhook field 'entry' must be a list")
    return kind, [entry for entry in entries if isinstance(entry, dict)]


def routing_keys(body: bytes) -> list[str]:
    """Our WhatsApp numbers, pages or Instagram accounts the webhook carries events for."""
    kind, entries = load_envelope(body)
    keys: list[str | None] = []
    for entry in entries:
        if kind == WHATSAPP:
            keys += [phone_number_id(change) for change in as_list(entry.get("changes"))]
        else:
            keys.append(as_str(entry.get("id")))
            keys += [business_side(as_dict(event)) for event in as_list(entry.get("messaging"))]
    return list(dict.fromkeys(key for key in keys if key))


def parse_events(body: bytes, routing_key: str) -> list[InboundEvent]:
    """Events addressed to ``routing_key`` only: one webhook may batch several numbers or pages."""
    try:
        kind, entries = load_envelope(body)
    except BadRequest:
        return []
    parse_entry = whatsapp_entry if kind == WHATSAPP else messaging_entry
    return [event for entry in entries for event in parse_entry(entry, routing_key)]
