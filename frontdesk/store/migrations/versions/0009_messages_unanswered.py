"""messages: a partial index of the unanswered inbound messages of each conversation

Revision ID: 0009
Revises: 0008

A turn reads its conversation's unanswered inbound messages (``direction = 'in' AND turn_id IS
NULL``); without this index that read walks every message of the conversation, so it grew with the
conversation's length. The index holds only the messages waiting for an answer: it stays tiny.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UNANSWERED = sa.text("direction = 'in' AND turn_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_messages_unanswered",
        "messages",
        ["conversation_id", "id"],
        sqlite_where=UNANSWERED,
        postgresql_where=UNANSWERED,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unanswered", table_name="messages")
