"""channel health and mock sends (provider channels)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channel_health",
        sa.Column("channel_id", sa.String(128), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("last_inbound_at", TS),
        sa.Column("last_send_at", TS),
        sa.Column("last_send_status", sa.String(16)),
        sa.Column("last_send_error", sa.Text),
        sa.Column("last_send_code", sa.String(32)),
        sa.Column("needs_attention", sa.Boolean, nullable=False),
        sa.Column("attention_reason", sa.Text),
        sa.Column("updated_at", TS, server_default=sa.func.current_timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.channel_id"],
            name="fk_channel_health_channel_id_channels",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name="pk_channel_health"),
    )
    op.create_index("ix_channel_health_tenant_id", "channel_health", ["tenant_id"])
    op.create_table(
        "mock_sends",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("message_id", sa.BigInteger, nullable=False),
        sa.Column("provider_message_id", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON),
        sa.Column("created_at", TS, server_default=sa.func.current_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mock_sends"),
    )
    op.create_index("ix_mock_sends_tenant_id", "mock_sends", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("mock_sends")
    op.drop_table("channel_health")
