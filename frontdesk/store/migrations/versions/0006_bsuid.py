"""WhatsApp business-scoped user ids: scoped contact identities, handles, unattributed messages

Revision ID: 0006
Revises: 0005

A contact identity gets a ``scope`` ("" for phone numbers and chat ids, the business portfolio for
a BSUID) and the unique key includes it; contacts get a ``handle`` (the WhatsApp username);
messages that name no sender are kept in ``unattributed_messages``; channel health counts those and
the unsupported ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
OLD_KEY = ("tenant_id", "provider", "address")
NEW_KEY = ("tenant_id", "provider", "scope", "address")


def upgrade() -> None:
    with op.batch_alter_table("contact_identities") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=200), nullable=False, server_default=""))
        batch.drop_constraint("uq_contact_identities_tenant_id_provider_address", type_="unique")
        batch.create_unique_constraint(
            "uq_contact_identities_tenant_id_provider_scope_address", list(NEW_KEY)
        )
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("handle", sa.String(length=200), nullable=True))
    with op.batch_alter_table("channel_health") as batch:
        batch.add_column(sa.Column("unsupported_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("unattributed_count", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "unattributed_messages",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=128), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.current_timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.channel_id"],
            name=op.f("fk_unattributed_messages_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unattributed_messages")),
        sa.UniqueConstraint(
            "channel_id",
            "provider_message_id",
            name=op.f("uq_unattributed_messages_channel_id_provider_message_id"),
        ),
    )
    op.create_index("ix_unattributed_messages_tenant_id", "unattributed_messages", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_unattributed_messages_tenant_id", table_name="unattributed_messages")
    op.drop_table("unattributed_messages")
    with op.batch_alter_table("channel_health") as batch:
        batch.drop_column("unattributed_count")
        batch.drop_column("unsupported_count")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("handle")
    # Scoped identities (BSUIDs) cannot be kept under the old key: they go, the phone numbers stay.
    op.execute(sa.text("DELETE FROM contact_identities WHERE scope <> ''"))
    with op.batch_alter_table("contact_identities") as batch:
        batch.drop_constraint("uq_contact_identities_tenant_id_provider_scope_address", type_="unique")
        batch.create_unique_constraint("uq_contact_identities_tenant_id_provider_address", list(OLD_KEY))
        batch.drop_column("scope")
