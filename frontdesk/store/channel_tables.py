"""Tables of the provider channels: health per channel, inbound messages that name no sender, and
the sends recorded in mock mode."""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.store.tables import TS, _now, _partial_unique, metadata

# The last inbound and the last send outcome of each channel, so operators see a channel that
# stopped receiving or whose token expired ("needs attention") without reading logs.
channel_health = sa.Table(
    "channel_health",
    metadata,
    sa.Column(
        "channel_id",
        sa.String(128),
        sa.ForeignKey("channels.channel_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("last_inbound_at", TS),
    sa.Column("last_send_at", TS),
    sa.Column("last_send_status", sa.String(16)),
    sa.Column("last_send_error", sa.Text),
    sa.Column("last_send_code", sa.String(32)),
    sa.Column("needs_attention", sa.Boolean, nullable=False, default=False),
    sa.Column("attention_reason", sa.Text),
    # Inbound messages stored raw because they could not be read (kind "unsupported") or named no
    # sender (unattributed_messages): counted as they are stored, so /health shows them cheaply.
    sa.Column("unsupported_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unattributed_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", TS, nullable=False, server_default=_now()),
)

# Messages a verified webhook carried that belong to no conversation (no sender): kept raw with the
# reason, deduplicated like messages, for a person to look at (GET /api/v1/unattributed-messages).
unattributed_messages = sa.Table(
    "unattributed_messages",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column(
        "channel_id",
        sa.String(128),
        sa.ForeignKey("channels.channel_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("provider_message_id", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.UniqueConstraint("channel_id", "provider_message_id"),
    sa.Index("ix_unattributed_messages_tenant_id", "tenant_id", "id"),
)

# FRONTDESK_MOCK_PROVIDERS=true: what would have gone out, for people and tests to look at.
mock_sends = sa.Table(
    "mock_sends",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("channel_id", sa.String(128), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("provider_message_id", sa.String(200), nullable=False),
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON),
    # Recorded once per key, as a provider that honours idempotency keys keeps one message per key.
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    _partial_unique("uq_mock_sends_idempotency", "idempotency_key", where="idempotency_key IS NOT NULL"),
)
