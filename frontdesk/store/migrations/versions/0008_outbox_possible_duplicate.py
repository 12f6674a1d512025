"""outbox: possible duplicates, and mock sends recorded once per idempotency key

Revision ID: 0008
Revises: 0007

``messages.possible_duplicate``: a reply that was being sent when its sender died, sent again
through a provider that cannot deduplicate sends (the customer may have it twice).
``mock_sends.idempotency_key``: mock mode records each outbound message once, like a provider
that honours idempotency keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MOCK_KEY_WHERE = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("possible_duplicate", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("mock_sends") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(200)))
    op.create_index(
        "uq_mock_sends_idempotency",
        "mock_sends",
        ["idempotency_key"],
        unique=True,
        sqlite_where=MOCK_KEY_WHERE,
        postgresql_where=MOCK_KEY_WHERE,
    )


def downgrade() -> None:
    op.drop_index("uq_mock_sends_idempotency", table_name="mock_sends")
    with op.batch_alter_table("mock_sends") as batch:
        batch.drop_column("idempotency_key")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("possible_duplicate")
