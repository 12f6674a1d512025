"""WhatsApp Cloud API webhooks → normalized events (the ``whatsapp_business_account`` object).

Events nest under ``entry[].changes[].value``, one ``phone_number_id`` (our number) per change,
with the customers' profiles (``contacts``) beside the messages and delivery statuses. Read through
``meta_parse``; a message whose content has an unexpected shape becomes kind "unsupported", and one
that names no sender is set apart as unattributed: both are stored, never dropped.

The customer is named by the phone number (``from`` / ``wa_id``) and by a business-scoped user id
(``from_user_id`` / ``user_id``, parent ``parent_user_id``; ``model.bsuid``). A user who adopted a
username may send the id alone, with ``profile.username``; ``system`` messages report a new number
(``user_changed_number``) or a new id (``user_changed_user_id``), with the ``previous_*`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frontdesk.channels.meta_json import (
    Content,
    as_dict,
    as_list,
    as_str,
    attributed,
    digest,
    from_epoch,
    required,
)
from frontdesk.model.bsuid import bsuid_or_none
from frontdesk.model.messages import IdentityChange, InboundEvent, InboundMessage, StatusUpdate
from frontdesk.model.phone import normalize_e164

MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
STATUSES = ("sent", "delivered", "read", "failed")
IDENTITY_CHANGES = ("user_changed_number", "user_changed_user_id")


@dataclass(frozen=True, slots=True)
class Profile:
    """What ``contacts[]`` says of one customer: profile name, username, BSUID and parent BSUID."""

    name: str | None = None
    username: str | None = None
    bsuid: str | None = None
    parent_bsuid: str | None = None


def phone_number_id(change: Any) -> str | None:
    """Our WhatsApp number a change is for."""
    return as_str(as_dict(as_dict(as_dict(change).get("value")).get("metadata")).get("phone_number_id"))


def whatsapp_entry(entry: dict[str, Any], key: str) -> list[InboundEvent]:
    """The messages and statuses of ``entry`` for the number whose phone_number_id is ``key``."""
    events: list[InboundEvent] = []
    for change in as_list(entry.get("changes")):
        if phone_number_id(change) != key:
            continue
        value = as_dict(as_dict(change).get("value"))
        profiles = _profiles(value)
        for raw in as_list(value.get("messages")):
            events += attributed([_whatsapp_message(raw, profiles)], raw)
        statuses = (_whatsapp_status(raw) for raw in as_list(value.get("statuses")))
        events += [status for status in statuses if status is not None]
    return events


def _profiles(value: dict[str, Any]) -> dict[str, Profile]:
    """Each customer's profile, found by their wa_id and by their BSUID (either may be missing)."""
    profiles: dict[str, Profile] = {}
    for contact in map(as_dict, as_list(value.get("contacts"))):
        profile = as_dict(contact.get("profile"))
        bsuid = bsuid_or_none(contact.get("user_id"))
        found = Profile(
            as_str(profile.get("name")),
            as_str(profile.get("username")),
            bsuid,
            bsuid_or_none(contact.get("parent_user_id")),
        )
        for key in (as_str(contact.get("wa_id")), bsuid):
            if key:
                profiles[key.lstrip("+")] = found
    return profiles


def whatsapp_address(wa_id: Any) -> str:
    """The customer's address: E.164 (``+`` and the digits WhatsApp calls ``wa_id``)."""
    raw = as_str(wa_id)
    if raw is None:
        return ""
    digits = raw.lstrip("+")
    if digits.isdigit():  # what normalize_e164 would give, valid or not: spared a parse per message
        return "+" + digits
    try:
        return normalize_e164("+" + digits)
    except ValueError:
        return raw


def _whatsapp_message(raw: Any, profiles: dict[str, Profile]) -> InboundMessage:
    msg = as_dict(raw)
    wa_id = as_str(msg.get("from")) or ""
    bsuid = bsuid_or_none(msg.get("from_user_id"))
    reason = None
    try:
        kind, text, payload = _whatsapp_content(msg)
    except Exception as exc:  # an unforeseen shape must not cost the whole webhook: keep it, raw
        kind, text, payload = "unsupported", "", {"raw": raw}
        reason = f"unreadable {as_str(msg.get('type')) or 'untyped'} message ({type(exc).__name__}: {exc})"
    change = _identity_change(msg, wa_id, bsuid) if kind == "system" else None
    if change is not None:
        bsuid = bsuid or change.previous_bsuid or change.bsuid
    elif kind == "unsupported" and reason is None:
        reason = _unsupported_reason(msg)
    profile = profiles.get(wa_id.lstrip("+")) or profiles.get(bsuid or "") or Profile()
    if change is None:
        bsuid = bsuid or profile.bsuid
    return InboundMessage(
        provider_message_id=as_str(msg.get("id")) or digest(raw),
        # The number when WhatsApp shares it (the identity every other channel knows), else the id.
        sender=whatsapp_address(wa_id) if wa_id else bsuid or "",
        sender_name=profile.name,
        text=text,
        kind=kind,
        payload=payload,
        reply_to=as_str(as_dict(msg.get("context")).get("id")),
        timestamp=from_epoch(msg.get("timestamp"), millis=False),
        bsuid=bsuid,
        parent_bsuid=profile.parent_bsuid or bsuid_or_none(msg.get("from_parent_user_id")),
        username=profile.username,
        identity_change=change,
        reason=reason,
    )


def _unsupported_reason(msg: dict[str, Any]) -> str:
    reason = f"WhatsApp message type {as_str(msg.get('type')) or '(none)'!r} is not supported"
    errors = as_list(msg.get("errors"))  # Meta says why it could not pass the message on
    error = as_dict(errors[0]) if errors else {}
    detail = as_str(as_dict(error.get("error_data")).get("details")) or as_str(error.get("title"))
    return f"{reason}: {detail}" if detail else reason


def _identity_change(msg: dict[str, Any], wa_id: str, bsuid: str | None) -> IdentityChange | None:
    system = as_dict(msg.get("system"))
    kind = as_str(system.get("type")) or ""
    kind = "user_changed_number" if kind == "customer_changed_number" else kind  # the older name
    if kind not in IDENTITY_CHANGES:
        return None
    new_wa_id = as_str(system.get("wa_id")) or as_str(system.get("new_wa_id"))
    old_wa_id = as_str(system.get("customer")) or wa_id
    return IdentityChange(
        kind=kind,
        phone=whatsapp_address(new_wa_id) if new_wa_id else None,
        previous_phone=whatsapp_address(old_wa_id) if old_wa_id and new_wa_id else None,
        bsuid=bsuid_or_none(system.get("user_id")),
        previous_bsuid=bsuid_or_none(system.get("previous_user_id")) or bsuid,
        parent_bsuid=bsuid_or_none(system.get("parent_user_id")),
    )


def _whatsapp_content(msg: dict[str, Any]) -> Content:
    mtype = msg.get("type")
    payload: dict[str, Any]
    if mtype == "text":
        kind, text, payload = "text", required(msg["text"], "body"), {}
    elif mtype in MEDIA_KINDS:
        kind, text, payload = _whatsapp_media(mtype, msg[mtype])
    elif mtype in WHATSAPP_PARSERS:
        kind, text, payload = WHATSAPP_PARSERS[mtype](msg[mtype])
    elif mtype == "system":  # a notice about the customer (new number, new id), not words of theirs
        kind, text, payload = "system", as_str(as_dict(msg["system"]).get("body")) or "", {}
    else:  # "unsupported", "unknown", "order", …
        return "unsupported", "", {"raw": msg}
    if kind != "text":
        payload["raw"] = msg
    if isinstance(msg.get("referral"), dict):  # click-to-WhatsApp ads say which ad started the chat
        payload["referral"] = msg["referral"]
    return kind, text, payload


def _whatsapp_media(kind: str, media: dict[str, Any]) -> Content:
    info: dict[str, Any] = {"id": required(media, "id"), "mime_type": as_str(media.get("mime_type"))}
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
    title = required(reply, "title")
    choice = {"type": itype, "id": required(reply, "id"), "title": title}
    if as_str(reply.get("description")):
        choice["description"] = reply["description"]
    return "interactive", title, {"interactive": choice}


def _whatsapp_button(button: dict[str, Any]) -> Content:
    """A template's quick-reply button, the one interactive reply WhatsApp sends as type "button"."""
    title = required(button, "text")
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
    details = {"message_id": required(reaction, "message_id"), "emoji": emoji}
    return "reaction", emoji, {"reaction": details}


WHATSAPP_PARSERS: dict[str, Callable[[Any], Content]] = {
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
        timestamp=from_epoch(status.get("timestamp"), millis=False),
    )
