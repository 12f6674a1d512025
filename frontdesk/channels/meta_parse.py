"""Meta webhook bodies → normalized events, for WhatsApp Cloud API and Messenger / Instagram.

WhatsApp nests events under ``entry[].changes[].value`` (one ``phone_number_id`` per change);
Messenger and Instagram put them in ``entry[].messaging[]``. Bodies are untrusted even once signed,
since Meta adds shapes over time: nothing here indexes blindly, and a message whose content has an
unexpected shape becomes kind "unsupported" (kept raw, stored and shown) instead of failing the
webhook, which Meta would otherwise redeliver for days.
"""

from __future__ import annotations

import hashlib
import json
import reprlib
from datetime import UTC, datetime
from typing import Any

import structlog

from frontdesk.errors import BadRequest
from frontdesk.model.messages import InboundEvent, InboundMessage, StatusUpdate
from frontdesk.model.phone import normalize_e164

log = structlog.get_logger(__name__)

WHATSAPP = "whatsapp_business_account"
MESSAGING_OBJECTS = ("page", "instagram")
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
STATUSES = ("sent", "delivered", "read", "failed")
MESSENGER_MEDIA = {"image": "image", "video": "video", "audio": "audio", "file": "document"}

Content = tuple[str, str, dict[str, Any]]  # kind, text, payload


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


def _required(container: Any, key: str) -> str:
    value = as_str(container[key])
    if value is None:
        raise TypeError(f"{key!r} is not a string")
    return value


def _when(value: Any, *, millis: bool) -> datetime | None:
    try:
        seconds = float(value) / (1000 if millis else 1)
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _digest(event: Any) -> str:
    """A stable id for events Meta gives none: a redelivery hashes the same, so dedup still holds."""
    try:
        text = json.dumps(event, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = repr(event)
    return "meta-" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def load_envelope(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The webhook's ``object`` and its entries; BadRequest when the body is not a Meta webhook."""
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
    kind, entries = load_envelope(body)
    keys: list[str | None] = []
    for entry in entries:
        if kind == WHATSAPP:
            keys += [_phone_number_id(change) for change in as_list(entry.get("changes"))]
        else:
            keys.append(as_str(entry.get("id")))
            keys += [_business_side(as_dict(event)) for event in as_list(entry.get("messaging"))]
    return list(dict.fromkeys(key for key in keys if key))


def parse_events(body: bytes, routing_key: str) -> list[InboundEvent]:
    """Events addressed to ``routing_key`` only: one webhook may batch several numbers or pages."""
    try:
        kind, entries = load_envelope(body)
    except BadRequest:
        return []
    parse_entry = _whatsapp_entry if kind == WHATSAPP else _messaging_entry
    return [event for entry in entries for event in parse_entry(entry, routing_key)]


def _phone_number_id(change: Any) -> str | None:
    return as_str(as_dict(as_dict(as_dict(change).get("value")).get("metadata")).get("phone_number_id"))


def _business_side(event: dict[str, Any]) -> str | None:
    """The page or Instagram account of an event: its recipient, except on echoes of our own sends."""
    echo = as_dict(event.get("message")).get("is_echo") is True
    return as_str(as_dict(event.get("sender" if echo else "recipient")).get("id"))


def _kept(messages: list[InboundMessage]) -> list[InboundMessage]:
    # With no sender there is no conversation to show the message in.
    for msg in messages:
        if not msg.sender:
            log.warning("meta event without a sender dropped", provider_message_id=msg.provider_message_id)
    return [msg for msg in messages if msg.sender]


# --- WhatsApp Cloud API -------------------------------------------------------------------------


def _whatsapp_entry(entry: dict[str, Any], key: str) -> list[InboundEvent]:
    events: list[InboundEvent] = []
    for change in as_list(entry.get("changes")):
        if _phone_number_id(change) != key:
            continue
        value = as_dict(as_dict(change).get("value"))
        names = _profile_names(value)
        events += _kept([_whatsapp_message(raw, names) for raw in as_list(value.get("messages"))])
        statuses = (_whatsapp_status(raw) for raw in as_list(value.get("statuses")))
        events += [status for status in statuses if status is not None]
    return events


def _profile_names(value: dict[str, Any]) -> dict[str, str]:
    names = {}
    for contact in map(as_dict, as_list(value.get("contacts"))):
        wa_id, name = as_str(contact.get("wa_id")), as_str(as_dict(contact.get("profile")).get("name"))
        if wa_id and name:
            names[wa_id] = name
    return names


def whatsapp_address(wa_id: Any) -> str:
    """The customer's address: E.164 (``+`` and the digits WhatsApp calls ``wa_id``)."""
    raw = as_str(wa_id)
    if raw is None:
        return ""
    digits = raw.lstrip("+")
    try:
        return normalize_e164("+" + digits)
    except ValueError:
        return "+" + digits if digits.isdigit() else raw


def _whatsapp_message(raw: Any, names: dict[str, str]) -> InboundMessage:
    msg = as_dict(raw)
    wa_id = as_str(msg.get("from")) or ""
    try:
        kind, text, payload = _whatsapp_content(msg)
    except Exception:  # an unforeseen shape must not cost the whole webhook: keep it, raw
        kind, text, payload = "unsupported", "", {"raw": raw}
    return InboundMessage(
        provider_message_id=as_str(msg.get("id")) or _digest(raw),
        sender=whatsapp_address(wa_id),
        sender_name=names.get(wa_id.lstrip("+")),
        text=text,
        kind=kind,
        payload=payload,
        reply_to=as_str(as_dict(msg.get("context")).get("id")),
        timestamp=_when(msg.get("timestamp"), millis=False),
    )


def _whatsapp_content(msg: dict[str, Any]) -> Content:
    mtype = msg.get("type")
    if mtype == "text":
        kind, text, payload = "text", _required(msg["text"], "body"), {}
    elif mtype in MEDIA_KINDS:
        kind, text, payload = _whatsapp_media(mtype, msg[mtype])
    elif mtype in WHATSAPP_PARSERS:
        kind, text, payload = WHATSAPP_PARSERS[mtype](msg[mtype])
    else:  # "unsupported", "unknown", "system", "order", …
        return "unsupported", "", {"raw": msg}
    if kind != "text":
        payload["raw"] = msg
    if isinstance(msg.get("referral"), dict):  # click-to-WhatsApp ads say which ad started the chat
        payload["referral"] = msg["referral"]
    return kind, text, payload


def _whatsapp_media(kind: str, media: dict[str, Any]) -> Content:
    info: dict[str, Any] = {"id": _required(media, "id"), "mime_type": as_str(media.get("mime_type"))}
    for key in ("sha256", "url", "caption", "filename"):
        if as_str(media.get(key)):
            info[key] = media[key]
    if "url" not in info and as_str(media.get("link")):
        info["url"] = media["link"]
    return kind, info.get("caption", ""), {"media": info}


def _whatsapp_interactive(interactive: dict[str, Any]) -> Content:
    itype = interactive["type"]
    if itype not in ("button_reply", "list_reply"):  # e.g. "nfm_reply" (Flows): not understood yet
        raise ValueError(f"interactive type {itype!r}")
    reply = interactive[itype]
    title = _required(reply, "title")
    choice = {"type": itype, "id": _required(reply, "id"), "title": title}
    if as_str(reply.get("description")):
        choice["description"] = reply["description"]
    return "interactive", title, {"interactive": choice}


def _whatsapp_button(button: dict[str, Any]) -> Content:
    """A template's quick-reply button, the one interactive reply WhatsApp sends as type "button"."""
    title = _required(button, "text")
    choice = {"type": "button", "id": as_str(button.get("payload")) or title, "title": title}
    return "interactive", title, {"interactive": choice}


def _whatsapp_location(location: dict[str, Any]) -> Content:
    place = {"latitude": float(location["latitude"]), "longitude": float(location["longitude"])}
    for key in ("name", "address"):
        if as_str(location.get(key)):
            place[key] = location[key]
    text = ", ".join(str(place[key]) for key in ("name", "address") if key in place)
    return "location", text, {"location": place}


def _whatsapp_contacts(cards: list[Any]) -> Content:
    if not isinstance(cards, list) or not cards:
        raise ValueError("contacts is not a list of cards")
    names = [as_str(as_dict(as_dict(card).get("name")).get("formatted_name")) for card in cards]
    summary = ", ".join(name or "(no name)" for name in names)
    return "contacts", "Shared contact: " + summary, {"contacts": cards}


def _whatsapp_reaction(reaction: dict[str, Any]) -> Content:
    # An empty emoji is how WhatsApp says a reaction was removed.
    emoji = as_str(reaction.get("emoji")) or ""
    details = {"message_id": _required(reaction, "message_id"), "emoji": emoji}
    return "reaction", emoji, {"reaction": details}


WHATSAPP_PARSERS = {
    "interactive": _whatsapp_interactive,
    "button": _whatsapp_button,
    "location": _whatsapp_location,
    "contacts": _whatsapp_contacts,
    "reaction": _whatsapp_reaction,
}


def _whatsapp_status(raw: Any) -> StatusUpdate | None:
    status = as_dict(raw)
    message_id, state = as_str(status.get("id")), status.get("status")
    if message_id is None or state not in STATUSES:
        return None  # "deleted", "warning", … change nothing we track
    errors = as_list(status.get("errors"))
    error = as_dict(errors[0]) if errors else {}
    return StatusUpdate(
        provider_message_id=message_id,
        status=state,
        error_code=as_str(error.get("code")),
        error_title=as_str(error.get("title")) or as_str(error.get("message")),
        timestamp=_when(status.get("timestamp"), millis=False),
    )


# --- Messenger and Instagram --------------------------------------------------------------------


def _messaging_entry(entry: dict[str, Any], key: str) -> list[InboundEvent]:
    entry_id = as_str(entry.get("id"))
    events: list[InboundEvent] = []
    for raw in as_list(entry.get("messaging")):
        event = as_dict(raw)
        if key in (entry_id, _business_side(event)):
            events += _messaging_event(event)
    return events


def _messaging_event(event: dict[str, Any]) -> list[InboundEvent]:
    when = _when(event.get("timestamp"), millis=True)
    message = event.get("message")
    if isinstance(message, dict):
        return [] if message.get("is_echo") else list(_kept(_messenger_message(event, message)))
    if isinstance(event.get("delivery"), dict):
        mids = as_list(event["delivery"].get("mids"))
        return [StatusUpdate(mid, "delivered", timestamp=when) for mid in map(as_str, mids) if mid]
    if isinstance(event.get("read"), dict):  # Messenger reads carry only a watermark: nothing to match
        mid = as_str(event["read"].get("mid"))
        return [StatusUpdate(mid, "read", timestamp=when)] if mid else []
    try:
        kind, text, payload, message_id = _messenger_other(event)
    except Exception:  # referral, optin, edits, …: keep them, raw, rather than lose them
        kind, text, payload, message_id = "unsupported", "", {"raw": event}, _digest(event)
    sender = as_str(as_dict(event.get("sender")).get("id")) or ""
    msg = InboundMessage(message_id, sender, text=text, kind=kind, payload=payload, timestamp=when)
    return list(_kept([msg]))


def _messenger_other(event: dict[str, Any]) -> tuple[str, str, dict[str, Any], str]:
    if isinstance(event.get("postback"), dict):
        postback = event["postback"]
        title = _required(postback, "title")
        choice = {"type": "postback", "id": as_str(postback.get("payload")) or title, "title": title}
        message_id = as_str(postback.get("mid")) or _digest(event)
        return "interactive", title, {"interactive": choice, "raw": event}, message_id
    if isinstance(event.get("reaction"), dict):
        reaction = event["reaction"]
        emoji = as_str(reaction.get("emoji")) or ""
        details = {"message_id": _required(reaction, "mid"), "emoji": emoji, "action": reaction.get("action")}
        return "reaction", emoji, {"reaction": details, "raw": event}, _digest(event)
    raise ValueError("not a Messenger event Frontdesk understands")


def _messenger_message(event: dict[str, Any], message: dict[str, Any]) -> list[InboundMessage]:
    mid = as_str(message.get("mid")) or _digest(event)
    try:
        contents = _messenger_contents(message)
    except Exception:  # an unforeseen shape must not cost the whole webhook: keep it, raw
        contents = [("unsupported", "", {"raw": message})]
    sender = as_str(as_dict(event.get("sender")).get("id")) or ""
    reply_to = as_str(as_dict(message.get("reply_to")).get("mid"))
    when = _when(event.get("timestamp"), millis=True)
    # Several attachments in one message become one stored message each, with ids derived from
    # the mid so a redelivery still deduplicates.
    return [
        InboundMessage(
            provider_message_id=mid if index == 0 else f"{mid}#{index}",
            sender=sender,
            text=text,
            kind=kind,
            payload=payload,
            reply_to=reply_to,
            timestamp=when,
        )
        for index, (kind, text, payload) in enumerate(contents)
    ]


def _messenger_contents(message: dict[str, Any]) -> list[Content]:
    text = as_str(message.get("text")) or ""
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict):
        choice = {"type": "quick_reply", "id": _required(quick_reply, "payload"), "title": text}
        return [("interactive", text, {"interactive": choice, "raw": message})]
    attachments = as_list(message.get("attachments"))
    if attachments:
        contents = [_messenger_attachment(attachment) for attachment in attachments]
        kind, first_text, payload = contents[0]
        contents[0] = (kind, first_text or text, payload)
        return contents
    if text:
        return [("text", text, {})]
    raise ValueError("a message with neither text nor attachments")


def _messenger_attachment(attachment: dict[str, Any]) -> Content:
    atype = attachment["type"]
    body = as_dict(attachment.get("payload"))
    if atype == "location":
        coordinates = body["coordinates"]
        place = {"latitude": float(coordinates["lat"]), "longitude": float(coordinates["long"])}
        title = as_str(attachment.get("title")) or ""
        if title:
            place["name"] = title
        return "location", title, {"location": place, "raw": attachment}
    kind = MESSENGER_MEDIA.get(atype)
    url = as_str(body.get("url"))
    if kind is None or url is None:  # share, story_mention, ig_reel, fallback, template, …
        return "unsupported", "", {"raw": attachment}
    if kind == "image" and body.get("sticker_id"):  # the "like" thumb and stickers
        kind = "sticker"
    return kind, "", {"media": {"id": None, "mime_type": None, "url": url}, "raw": attachment}
