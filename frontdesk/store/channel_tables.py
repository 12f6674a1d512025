"""Tables of the provider channels: health per channel and the sends recorded in mock mode."""

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
    sa.Column("updated_at", TS, nullable=False, server_default=_now()),
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
