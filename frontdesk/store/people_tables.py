"""People and what they do: users and their sign-in, reviews, escalations, notes, inbox events.

Users are rows, not configuration: they sign in (``refresh_tokens`` hold the hashes of their
rotating refresh tokens, one family per sign-in), decide reviews (``reviews``: a reply held until a
person approves, edits or rejects it), take conversations over (``escalations``: one lifecycle
record per handoff) and write private notes. ``inbox_events`` is the ordered log that the inbox's
live stream and the tenants' event webhooks read, so a reconnect can replay what it missed.
"""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.store.tables import TS, _now, _partial_unique, _stamps, _tenant_fk, metadata

ROLES = ("superuser", "admin", "agent")

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.String(40), primary_key=True),
    # NULL only for superusers (the platform's operators).
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE")),
    # Stored lowercased: unique regardless of case.
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("available", sa.Boolean, nullable=False, default=True),
    sa.Column("last_login_at", TS),
    # When the user last had a conversation assigned or answered one: ties in auto-assignment go
    # to the longest idle.
    sa.Column("last_assigned_at", TS),
    *_stamps(),
    sa.Index("ix_users_tenant", "tenant_id"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_id", sa.String(40), primary_key=True),
    # Every token rotated from one sign-in shares its family: a token used twice revokes them all.
    sa.Column("family_id", sa.String(40), nullable=False),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("used_at", TS),
    sa.Column("revoked_at", TS),
    sa.Index("ix_refresh_tokens_family", "family_id"),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("review_id", sa.String(40), primary_key=True),
    _tenant_fk(),
    sa.Column(
        "conversation_id",
        sa.String(40),
        sa.ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("agent_id", sa.String(128)),
    sa.Column("channel_id", sa.String(128), nullable=False),
    sa.Column("turn_id", sa.String(80), nullable=False),
    sa.Column("run_id", sa.String(40)),
    # The ids (messages.id) of the customer's messages the proposed reply answers.
    sa.Column("customer_message_ids", sa.JSON, nullable=False, default=list),
    # {"texts": [...], "buttons": [...]}: what the agent proposed; ``edited`` what a person sent.
    sa.Column("proposed", sa.JSON, nullable=False),
    sa.Column("edited", sa.JSON),
    sa.Column("confidence", sa.Float),
    sa.Column("risk_level", sa.String(8), nullable=False, default="low"),  # low | medium | high
    # pending | approved | edited | rejected | superseded | expired
    sa.Column("status", sa.String(12), nullable=False, default="pending"),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", TS),
    sa.Column("reason", sa.Text),
    sa.Column("then", sa.String(12)),  # after a rejection: handoff | close | nothing
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("sla_deadline", TS, nullable=False),
    _partial_unique("uq_reviews_pending_conversation", "conversation_id", where="status = 'pending'"),
    sa.Index("ix_reviews_tenant_status_created", "tenant_id", "status", "created_at"),
)

escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("escalation_id", sa.String(40), primary_key=True),
    _tenant_fk(),
    sa.Column(
        "conversation_id",
        sa.String(40),
        sa.ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    # agent_tool | low_confidence | customer_asked | review_rejected | taken_over
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("requested_at", TS, nullable=False),
    sa.Column("assigned_at", TS),
    sa.Column("assignee_id", sa.String(40), sa.ForeignKey("users.user_id", ondelete="SET NULL")),
    sa.Column("first_human_reply_at", TS),
    sa.Column("resolved_at", TS),
    sa.Column("resolution", sa.String(16)),  # returned_to_bot | closed
    _partial_unique("uq_escalations_open_conversation", "conversation_id", where="resolved_at IS NULL"),
    sa.Index("ix_escalations_tenant_requested", "tenant_id", "requested_at"),
)

conversation_notes = sa.Table(
    "conversation_notes",
    metadata,
    sa.Column("note_id", sa.String(40), primary_key=True),
    _tenant_fk(),
    sa.Column(
        "conversation_id",
        sa.String(40),
        sa.ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("author_id", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Index("ix_conversation_notes_conversation", "conversation_id", "created_at"),
)

inbox_events = sa.Table(
    "inbox_events",
    metadata,
    # The SSE event id: increasing, so ``Last-Event-ID`` says where a stream resumes.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    # conversation.updated | message.created | review.created | review.decided | conversation.assigned
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Index("ix_inbox_events_tenant_id", "tenant_id", "id"),
)

__all__ = ["ROLES", "conversation_notes", "escalations", "inbox_events", "refresh_tokens", "reviews", "users"]
