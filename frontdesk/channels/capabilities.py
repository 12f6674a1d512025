"""What one channel can carry, as its adapter knows it: ``adapter.capabilities(channel)``.

One frozen record per channel says how long a message may be, whether replies can carry buttons,
which markup the customer's app shows, how fast one sender may send and how SMS segments are
counted. Formatting (``channels.formatting``), pacing (``pipeline.ratelimit``) and the outbox read
it; no table keyed by a provider's name lives outside ``channels/``.

``for_channel_type`` gives what a channel type imposes whichever provider carries it (WhatsApp's
4096 characters, SMS segments); each adapter module adjusts it to its own provider (Meta's 80
messages a second, Twilio's 1600-character bodies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from frontdesk.channels.segments import SMS, SegmentRules

# How the customer's app shows an agent's Markdown: WhatsApp's own markers, plain text, Markdown
# as written (Telegram), plain text read out by text-to-speech, or the text as written, unsplit.
Markup = Literal["whatsapp", "plain", "markdown", "speech", "verbatim"]

# Infobip, ACS and the email providers publish no per-sender figure that binds first; 10/s stays well
# under their API request quotas. A number with a known throughput sets ``max_mps`` on its channel.
DEFAULT_SEND_RATE = 10.0


@dataclass(frozen=True, slots=True)
class Buttons:
    """Tappable choices a reply can carry; a limit of None is one the channel does not fix."""

    max_buttons: int | None = None
    title_chars: int | None = None
    body_limit: int | None = None  # the most characters of text shown above the choices


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel carries. ``text_limit`` None: messages are never split; ``buttons`` None:
    choices become a numbered list; ``segments`` None: a message costs one unit of ``send_rate``."""

    text_limit: int | None = None
    caption_limit: int | None = None
    buttons: Buttons | None = None
    markup: Markup = "verbatim"
    send_rate: float = DEFAULT_SEND_RATE  # units (messages, or SMS segments) a second per sender
    segments: SegmentRules | None = None


# WhatsApp shows at most 3 reply buttons of 20 characters, under a body of at most 1024.
WHATSAPP_BUTTONS = Buttons(max_buttons=3, title_chars=20, body_limit=1024)
# Messenger and Instagram quick replies: at most 13, titles of at most 20 characters.
QUICK_REPLIES = Buttons(max_buttons=13, title_chars=20)

_BY_TYPE: dict[str, Capabilities] = {
    "whatsapp": Capabilities(4096, caption_limit=1024, buttons=WHATSAPP_BUTTONS, markup="whatsapp"),
    "telegram": Capabilities(4096, buttons=Buttons(), markup="markdown"),
    "messenger": Capabilities(2000, buttons=QUICK_REPLIES, markup="plain"),
    "instagram": Capabilities(1000, buttons=QUICK_REPLIES, markup="plain"),
    # Rendered to cost as few segments as possible (channels.formatting), paced per segment.
    "sms": Capabilities(1600, markup="plain", segments=SMS),
    "voice": Capabilities(markup="speech"),
    "email": Capabilities(),
    "webchat": Capabilities(buttons=Buttons()),
}
_OTHER = Capabilities(buttons=Buttons())


def for_channel_type(channel_type: str) -> Capabilities:
    """What a channel of this type carries whichever provider it goes through."""
    return _BY_TYPE.get(channel_type, _OTHER)
