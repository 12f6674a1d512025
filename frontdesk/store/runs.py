"""Agent runs: one row per agent run of a turn, with its steps (model calls, tool calls, …) as JSON.

The steps stay one JSON list rather than a table of their own: every agent kind writes its own step
types (``model_call``, ``tool_call``, ``classification``, ``remote_call``), a run is always read
whole, and one insert per turn keeps the hot path short. Personal data in the steps is redacted
before it gets here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.store.db import Database
from frontdesk.store.prepared import Prepared
from frontdesk.store.tables import TS, metadata

agent_runs = sa.Table(
    "agent_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "conversation_id",
        sa.String(40),
        sa.ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("turn_id", sa.String(80), nullable=False),
    # No foreign key: a run's trace outlives the agent that made it.
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("agent_kind", sa.String(16), nullable=False),
    sa.Column("model", sa.String(200)),
    sa.Column("status", sa.String(10), nullable=False),  # ok | error
    sa.Column("confidence", sa.Float),
    sa.Column("handoff", sa.Boolean, nullable=False, default=False),
    sa.Column("handoff_reason", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("model_latency_ms", sa.Float, nullable=False, default=0.0),
    sa.Column("tokens_in", sa.Integer, nullable=False, default=0),
    sa.Column("tokens_out", sa.Integer, nullable=False, default=0),
    sa.Column("steps", sa.JSON, nullable=False, default=list),
    sa.Column("started_at", TS, nullable=False),
    sa.Index("ix_agent_runs_conversation", "conversation_id", "started_at"),
    sa.Index("ix_agent_runs_tenant", "tenant_id", "started_at"),
)

run = agent_runs.c
_RUNS = (
    sa.select(agent_runs)
    .where(run.conversation_id == sa.bindparam("cid"))
    .order_by(run.started_at.desc(), run.run_id.desc())
    .limit(sa.bindparam("n"))
)


def insert(conn: Connection, row: dict[str, Any]) -> None:
    """Store one run (``agents.runs.RunRecorder.row``), in the caller's transaction: the turn's."""
    keys = tuple(row)
    prepared = _INSERTS.get(keys)
    if prepared is None:  # one per shape of row (a run's, a superseded run's): a handful
        prepared = _INSERTS[keys] = Prepared(agent_runs.insert(), keys)
    prepared.execute(conn, row)


# Every turn stores its run: on the driver's cursor (``store.prepared``).
_INSERTS: dict[tuple[str, ...], Prepared] = {}


async def of_conversation(db: Database, conversation_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The conversation's last ``limit`` runs, oldest first."""
    async with db.read() as conn:  # an API read: the async engine, never a hot-path thread
        rows = (await conn.execute(_RUNS, {"cid": conversation_id, "n": limit})).all()
    return [dict(row._mapping) for row in reversed(rows)]
