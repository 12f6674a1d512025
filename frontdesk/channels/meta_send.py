"""Send-API bodies for Meta's channels: WhatsApp Cloud API, Messenger and Instagram.

The adapter (``meta.py``) posts what these build. WhatsApp takes text, media, reply buttons, lists
and templates, and only a template once its 24-hour customer service window has closed; a
customer known only by their business-scoped user id is addressed in ``recipient`` instead of
``to``, and gets anything but an authentication template (those need a phone number);
Messenger and Instagram take text or one attachment, with quick replies standing in for buttons
and lists. A payload these cannot express is a PermanentDelivery: retrying would not change it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from frontdesk.channels.bsuid_sends import require_phone_for
from frontdesk.channels.meta_json import as_dict, as_list
from frontdesk.channels.meta_parse_whatsapp import MEDIA_KINDS
from frontdesk.errors import PermanentDelivery
from frontdesk.model.bsuid import is_bsuid
from frontdesk.model.messages import OutboundMessage
from frontdesk.model.routing import ChannelInfo

WINDOW = timedelta(hours=24)


def _window_closed(last_inbound_at: datetime | None) -> bool:
    # None: the customer never wrote (a proactive message); Meta decides, we do not guess.
    if last_inbound_at is None:
        return False
    since = last_inbound_at if last_inbound_at.tzinfo else last_inbound_at.replace(tzinfo=UTC)
    return datetime.now(UTC) - since > WINDOW


def whatsapp_body(msg: OutboundMessage, channel: ChannelInfo) -> dict[str, Any]:
    """The Cloud API body for ``msg``: a template instead of free-form once the 24-hour window closed."""
    payload = msg.payload or {}
    if "template" not in payload and _window_closed(msg.last_inbound_at):
        spec = _reengagement_spec(channel)
        content = {"type": "template", "template": _template(spec, "channel setting templates.reengagement")}
    else:
        spec = payload.get("template")
        content = _whatsapp_content(msg, payload)
    if is_bsuid(msg.to):  # Meta's field for a business-scoped user id; "to" holds numbers only
        if content["type"] == "template":
            require_phone_for(spec)
        addressee = {"recipient": msg.to}
    else:
        addressee = {"to": "".join(ch for ch in msg.to if ch.isdigit())}
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", **addressee, **content}
    if payload.get("reply_to") and content["type"] != "template":
        body["context"] = {"message_id": str(payload["reply_to"])}
    return body


def _reengagement_spec(channel: ChannelInfo) -> Any:
    templates = channel.settings.get("templates")
    spec = templates.get("reengagement") if isinstance(templates, dict) else None
    if spec is None:
        raise PermanentDelivery(
            "outside WhatsApp's 24-hour customer service window and no 'reengagement' template is configured",
            provider_code="131047",
        )
    return spec


def _whatsapp_content(msg: OutboundMessage, payload: dict[str, Any]) -> dict[str, Any]:
    if "template" in payload:
        return {"type": "template", "template": _template(payload["template"], "payload template")}
    if "media" in payload:
        return _whatsapp_media(payload["media"], msg.text)
    if "buttons" in payload:
        return _interactive("button", msg.text, {"buttons": _reply_buttons(payload["buttons"])})
    if "list" in payload:
        choices = _mapping(payload["list"], "payload list")
        action = {"button": choices.get("button"), "sections": choices.get("sections")}
        if not isinstance(action["button"], str) or not isinstance(action["sections"], list):
            raise PermanentDelivery("a WhatsApp list needs 'button' (text) and 'sections' (a list)")
        return _interactive("list", msg.text, action)
    preview = bool(payload.get("preview_url", False))
    return {"type": "text", "text": {"preview_url": preview, "body": msg.text}}


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PermanentDelivery(f"{what} must be an object, not {type(value).__name__}")
    return value


def _template(spec: Any, what: str) -> dict[str, Any]:
    spec = _mapping(spec, what)
    name, language = spec.get("name"), spec.get("language")
    if not isinstance(name, str) or not name or not isinstance(language, str | dict) or not language:
        raise PermanentDelivery(f"{what} needs a 'name' and a 'language' (e.g. 'en_US')")
    template: dict[str, Any] = {
        "name": name,
        "language": language if isinstance(language, dict) else {"code": language},
    }
    if spec.get("components"):
        template["components"] = spec["components"]
    return template


def _whatsapp_media(media: Any, text: str) -> dict[str, Any]:
    media = _mapping(media, "payload media")
    kind = media.get("type")
    if kind not in MEDIA_KINDS:
        raise PermanentDelivery(f"payload media type must be one of {', '.join(MEDIA_KINDS)}")
    if media.get("url"):
        item: dict[str, Any] = {"link": str(media["url"])}
    elif media.get("id"):
        item = {"id": str(media["id"])}
    else:
        raise PermanentDelivery("payload media needs a 'url' (or an uploaded media 'id')")
    caption = media.get("caption") or text
    # Audio and stickers take no caption on WhatsApp.
    if caption and kind in ("image", "video", "document"):
        item["caption"] = caption
    if kind == "document" and media.get("filename"):
        item["filename"] = str(media["filename"])
    return {"type": kind, kind: item}


def _reply_buttons(buttons: Any) -> list[dict[str, Any]]:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise PermanentDelivery("WhatsApp takes 1 to 3 reply buttons; send a 'list' for more choices")
    return [{"type": "reply", "reply": _choice(button)} for button in buttons]


def _choice(button: Any) -> dict[str, str]:
    button = _mapping(button, "a button")
    if not button.get("id") or not button.get("title"):
        raise PermanentDelivery("every button needs an 'id' and a 'title'")
    return {"id": str(button["id"]), "title": str(button["title"])}


def _interactive(kind: str, text: str, action: dict[str, Any]) -> dict[str, Any]:
    if not text:
        raise PermanentDelivery(f"a WhatsApp {kind} message needs text to show above its choices")
    return {"type": "interactive", "interactive": {"type": kind, "body": {"text": text}, "action": action}}


def messenger_body(msg: OutboundMessage) -> dict[str, Any]:
    """The Send API body for Messenger and Instagram: quick replies stand in for buttons and lists."""
    payload = msg.payload or {}
    if "template" in payload:
        raise PermanentDelivery("message templates exist on WhatsApp only, not on Messenger or Instagram")
    if "media" in payload:
        message = _messenger_attachment(payload["media"])
    else:
        message = {"text": msg.text}
        replies = _quick_replies(payload)
        if replies:
            message["quick_replies"] = replies
    return {"recipient": {"id": msg.to}, "messaging_type": "RESPONSE", "message": message}


def _messenger_attachment(media: Any) -> dict[str, Any]:
    media = _mapping(media, "payload media")
    if not media.get("url"):
        raise PermanentDelivery("payload media needs a 'url' on Messenger and Instagram")
    kind = {"document": "file", "sticker": "image"}.get(media.get("type"), media.get("type"))
    if kind not in ("image", "video", "audio", "file"):
        raise PermanentDelivery("payload media type must be one of image, video, audio, document")
    return {"attachment": {"type": kind, "payload": {"url": str(media["url"]), "is_reusable": True}}}


def _quick_replies(payload: dict[str, Any]) -> list[dict[str, str]]:
    if "buttons" in payload:
        buttons = payload["buttons"]
    elif "list" in payload:
        sections = map(as_dict, as_list(_mapping(payload["list"], "payload list").get("sections")))
        buttons = [row for section in sections for row in as_list(section.get("rows"))]
    else:
        return []
    if not isinstance(buttons, list) or len(buttons) > 13:
        raise PermanentDelivery("Messenger and Instagram take at most 13 quick replies")
    return [
        {"content_type": "text", "title": choice["title"], "payload": choice["id"]}
        for choice in map(_choice, buttons)
    ]
