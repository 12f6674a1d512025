"""records datasets and rows, tenant HTTP actions, router state

Revision ID: 0005
Revises: 0004

HTTP actions need no schema: a tenant's actions are ``settings.http_actions``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "record_datasets",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_column", sa.String(length=200), nullable=False),
        sa.Column("contact_column", sa.String(length=200), nullable=False),
        sa.Column("contact_kind", sa.String(length=8), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
            name=op.f("fk_record_datasets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_record_datasets")),
    )
    op.create_table(
        "records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "dataset"],
            ["record_datasets.tenant_id", "record_datasets.name"],
            name=op.f("fk_records_tenant_id_record_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
        sa.UniqueConstraint("tenant_id", "dataset", "key", name=op.f("uq_records_tenant_id_dataset_key")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index("ix_records_contact", ["tenant_id", "dataset", "contact"], unique=False)

    op.create_table(
        "router_state",
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("router_agent_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("target_agent_id", sa.String(length=128), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.conversation_id"],
            name=op.f("fk_router_state_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
            name=op.f("fk_router_state_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "router_agent_id", name=op.f("pk_router_state")),
    )


def downgrade() -> None:
    op.drop_table("router_state")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_contact")
    op.drop_table("records")
    op.drop_table("record_datasets")
