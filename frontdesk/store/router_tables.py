"""Sticky routing: which agent a router handed a conversation to (``agents.router_state`` reads it)."""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.store.tables import TS, metadata

router_state = sa.Table(
    "router_state",
    metadata,
    sa.Column(
        "conversation_id",
        sa.String(40),
        sa.ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("router_agent_id", sa.String(128), primary_key=True),
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("target_agent_id", sa.String(128), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False, default=0.0),
    sa.Column("updated_at", TS, nullable=False),
)
