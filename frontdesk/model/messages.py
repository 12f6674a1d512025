"""Messages as they travel: normalized inbound events, outbound messages, turns and replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Direction = Literal["in", "out"]
DeliveryStatus = Literal["received", "queued", "sending", "sent", "delivered", "read", "failed", "dead"]

# A later status never goes back: a late "delivered" must not overwrite "read".
STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "sending": 0,
    "sent": 1,
    "delivered": 2,
    "read": 3,
    "failed": 4,
    "dead": 5,
}


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Names one conversation: a contact talking to a tenant on one channel (optionally one thread)."""

    tenant_id: str
    channel_id: str
    contact_address: str
    thread: str = ""


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """What a WhatsApp ``system`` message reports: the customer's new number, new BSUID, or both.

    ``kind`` is Meta's ``system.type`` (``user_changed_number``, ``user_changed_user_id``); the
    ``previous_*`` values name the identity to update, the others what it becomes."""

    kind: str
    phone: str | None = None
    previous_phone: str | None = None
    bsuid: str | None = None
    previous_bsuid: str | None = None
    parent_bsuid: str | None = None


@dataclass(slots=True)
class InboundMessage:
    # ``sender`` is the customer's address on the provider: a phone number (E.164), a chat id, an
    # e-mail address, or on WhatsApp the BSUID when the number is hidden (``model.bsuid``).
    provider_message_id: str
    sender: str
    text: str = ""
    kind: str = "text"
    sender_name: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    thread: str = ""
    timestamp: datetime | None = None
    # WhatsApp: the business-scoped user id beside (or as) the sender, its parent, the username.
    bsuid: str | None = None
    parent_bsuid: str | None = None
    username: str | None = None
    identity_change: IdentityChange | None = None
    # Why an "unsupported" message could not be read (shown with it in the API).
    reason: str | None = None


@dataclass(slots=True)
class UnattributedMessage:
    """A message the provider delivered that names no sender: stored raw with why, never dropped."""

    provider_message_id: str
    reason: str
    raw: Any = None


@dataclass(slots=True)
class StatusUpdate:
    provider_message_id: str
    status: str
    error_code: str | None = None
    error_title: str | None = None
    timestamp: datetime | None = None


InboundEvent = InboundMessage | StatusUpdate | UnattributedMessage


@dataclass(slots=True)
class OutboundMessage:
    id: int
    tenant_id: str
    conversation_id: str
    channel_id: str
    to: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""
    attempts: int = 0
    # When the customer last wrote on this conversation: WhatsApp's 24-hour window is counted from it.
    last_inbound_at: datetime | None = None


@dataclass(slots=True)
class SendResult:
    provider_message_id: str | None
    status: str = "sent"


@dataclass(slots=True)
class HistoryMessage:
    id: int
    direction: Direction
    text: str
    kind: str
    created_at: datetime | None


@dataclass(slots=True)
class Turn:
    """One run of an agent over the new inbound messages of one conversation."""

    tenant_id: str
    agent_id: str
    channel_id: str
    channel_type: str
    conversation_id: str
    contact_id: str
    new_messages: list[HistoryMessage]
    history: list[HistoryMessage]
    # {"tenant_id", "name", "timezone", "business_profile", "settings", "revision"}
    tenant: dict[str, Any] = field(default_factory=dict)
    agent_config: dict[str, Any] = field(default_factory=dict)
    agent_name: str = ""
    agent_kind: str = ""
    channel_provider: str = ""
    # The customer's address on this channel's provider (phone number, chat id, e-mail).
    contact_address: str = ""
    contact_name: str | None = None
    # Names the turn: the inbound messages it answers and its outbound messages carry it.
    turn_id: str = ""
    # The same contact's recent messages on the tenant's other channels, oldest first, each with
    # the type of the channel it came through (agents with ``cross_channel_history`` only).
    cross_channel_history: list[tuple[str, HistoryMessage]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.new_messages if m.text)


@dataclass(slots=True)
class AgentReply:
    """What an agent answers. ``trace`` is a list of steps, each a dict with a ``type``:
    ``model_call``, ``tool_call``, ``classification``, ``remote_call``, … (stored with the run).
    ``error`` says what failed when the texts are a fallback; ``effects`` are what the agent's tools
    asked of the turn (``{"handoff": reason}``)."""

    texts: list[str]
    confidence: float = 1.0
    handoff: bool = False
    reason: str | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    effects: dict[str, Any] = field(default_factory=dict)
    # Short choices the customer can tap, shown with the last text (a numbered list where the
    # channel has no buttons).
    buttons: list[str] = field(default_factory=list)
