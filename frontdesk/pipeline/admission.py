"""Which events of a verified webhook are stored: the ones the store can hold, sent recently enough.

A webhook is not all-or-nothing. Its valid events are stored and the others refused, each with a
reason, and the webhook is answered 200: Meta redelivers a non-2xx webhook for up to 7 days, so
failing the whole batch for one bad event would replay its good ones (harmlessly, they dedup) and
its bad one forever. ``refusal`` says what is wrong with an event before anything of it is written;
``pipeline.receive`` records the refusal.

The replay window. Meta signs the body with HMAC and no timestamp of its own, so a captured signed
webhook verifies forever; deduplication on the provider's message id is what makes a replay
harmless, and inbound messages are kept, so their ids are never forgotten. As a second guard a
message more than ``MAX_AHEAD`` in the future is refused (no genuine delivery is that early), and,
where the operator sets ``FRONTDESK_WEBHOOK_MAX_AGE_DAYS`` (8 covers Meta's 7 days of retries and
a day of margin), one older than that too. The age window is off by default, deliberately: a
replayed message is already harmless, while a window would refuse recorded payloads replayed on
purpose (``frontdesk replay`` restamps them) and deliveries held up longer than expected. Twilio
message webhooks carry no timestamp; messages without one are not windowed. A refused message is
still kept raw, apart, with its reason (``pipeline.receive``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from frontdesk.model.messages import InboundEvent, InboundMessage
from frontdesk.store.tables import contact_identities, conversations, length_of, messages

MAX_AHEAD = timedelta(hours=1)


# Fields the store holds in bounded columns (PostgreSQL enforces the bound, SQLite does not).
_BOUNDED = (
    ("provider_message_id", "message id", length_of(messages.c.provider_message_id)),
    ("sender", "sender address", length_of(contact_identities.c.address)),
    ("thread", "thread", length_of(conversations.c.thread)),
)


def refusal(event: InboundEvent, now: datetime, max_age: timedelta | None = None) -> str | None:
    """Why ``event`` cannot be stored, or None when it can (``max_age``: the optional age window)."""
    if not isinstance(event, InboundMessage):
        return None
    for name, what, limit in _BOUNDED:
        if len(getattr(event, name)) > limit:
            return f"its {what} is longer than {limit} characters"
    sent = event.timestamp
    if sent is None:
        return None
    oldest = now - max_age if max_age else None
    if sent > now + MAX_AHEAD or (oldest is not None and sent < oldest):
        back = f"{max_age.days} days back, " if max_age else ""
        return (
            f"it was sent at {sent.isoformat()}, outside the accepted window "
            f"({back}{int(MAX_AHEAD.total_seconds() // 3600)} hour ahead)"
        )
    return None
