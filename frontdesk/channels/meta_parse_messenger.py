"""Messenger and Instagram webhooks → normalized events (the ``page`` and ``instagram`` objects).

Events come in ``entry[].messaging[]``, the entry's id being the page or Instagram account; echoes
of our own sends come back too and are skipped. Read through ``meta_parse``; a message whose
content has an unexpected shape becomes kind "unsupported".
"""

from __future__ import annotations

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
from frontdesk.model.messages import InboundEvent, InboundMessage, StatusUpdate

MESSENGER_MEDIA = {"image": "image", "video": "video", "audio": "audio", "file": "document"}


def business_side(event: dict[str, Any]) -> str | None:
    """The page or Instagram account of an event: its recipient, except on echoes of our own sends."""
    echo = as_dict(event.get("message")).get("is_echo") is True
    return as_str(as_dict(event.get("sender" if echo else "recipient")).get("id"))


def messaging_entry(entry: dict[str, Any], key: str) -> list[InboundEvent]:
    """The events of ``entry`` for the page or Instagram account ``key``."""
    entry_id = as_str(entry.get("id"))
    events: list[InboundEvent] = []
    for raw in as_list(entry.get("messaging")):
        event = as_dict(raw)
        if key in (entry_id, business_side(event)):
            events += _messaging_event(event)
    return events


def _messaging_event(event: dict[str, Any]) -> list[InboundEvent]:
    when = from_epoch(event.get("timestamp"), millis=True)
    message = event.get("message")
    if isinstance(message, dict):
        return [] if message.get("is_echo") else list(attributed(_messenger_message(event, message), event))
    if isinstance(event.get("delivery"), dict):
        mids = as_list(event["delivery"].get("mids"))
        return [StatusUpdate(mid, "delivered", timestamp=when) for mid in map(as_str, mids) if mid]
    if isinstance(event.get("read"), dict):  # Messenger reads carry only a watermark: nothing to match
        mid = as_str(event["read"].get("mid"))
        return [StatusUpdate(mid, "read", timestamp=when)] if mid else []
    try:
        kind, text, payload, message_id = _messenger_other(event)
    except Exception:  # referral, optin, edits, …: keep them, raw, rather than lose them
        kind, text, payload, message_id = "unsupported", "", {"raw": event}, digest(event)
    sender = as_str(as_dict(event.get("sender")).get("id")) or ""
    msg = InboundMessage(message_id, sender, text=text, kind=kind, payload=payload, timestamp=when)
    return list(attributed([msg], event))


def _messenger_other(event: dict[str, Any]) -> tuple[str, str, dict[str, Any], str]:
    if isinstance(event.get("postback"), dict):
        postback = event["postback"]
        title = required(postback, "title")
        choice = {"type": "postback", "id": as_str(postback.get("payload")) or title, "title": title}
        message_id = as_str(postback.get("mid")) or digest(event)
        return "interactive", title, {"interactive": choice, "raw": event}, message_id
    if isinstance(event.get("reaction"), dict):
        reaction = event["reaction"]
        emoji = as_str(reaction.get("emoji")) or ""
        details = {"message_id": required(reaction, "mid"), "emoji": emoji, "action": reaction.get("action")}
        return "reaction", emoji, {"reaction": details, "raw": event}, digest(event)
    raise ValueError("not a Messenger event Frontdesk understands")


def _messenger_message(event: dict[str, Any], message: dict[str, Any]) -> list[InboundMessage]:
    mid = as_str(message.get("mid")) or digest(event)
    try:
        contents = _messenger_contents(message)
    except Exception:  # an unforeseen shape must not cost the whole webhook: keep it, raw
        contents = [("unsupported", "", {"raw": message})]
    sender = as_str(as_dict(event.get("sender")).get("id")) or ""
    reply_to = as_str(as_dict(message.get("reply_to")).get("mid"))
    when = from_epoch(event.get("timestamp"), millis=True)
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
        choice = {"type": "quick_reply", "id": required(quick_reply, "payload"), "title": text}
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
        place: dict[str, Any] = {
            "latitude": float(coordinates["lat"]),
            "longitude": float(coordinates["long"]),
        }
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
