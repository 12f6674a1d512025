"""The write that other transactions make in the jobs table: queue a conversation's turn.

At most one *queued* job per conversation (a partial unique index): a message for a conversation
whose turn is still waiting joins it (burst debounce), keeping the earlier run time and the
larger attempt count. ``pipeline.queue.local`` owns the rest of the queue (claims, leases);
``store.inbound`` queues the turn of each message it stores, on PostgreSQL in the same statement
as the message (``upsert(dialect, rows)``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from frontdesk.store.db import utcnow
from frontdesk.store.dialect import greatest, insert_for, least
from frontdesk.store.prepared import Prepared
from frontdesk.store.tables import jobs

QUEUED = sa.text("status = 'queued'")
COLUMNS = ["tenant_id", "conversation_id", "kind", "status", "attempts", "run_at"]


def upsert(dialect: Dialect, rows: sa.Select | None = None) -> sa.Insert:
    """The upsert of a queued job: of bound ``COLUMNS``, or of ``rows`` (a SELECT of them)."""
    stmt = insert_for(dialect, jobs)
    if rows is not None:
        stmt = stmt.from_select(COLUMNS, rows)
    return stmt.on_conflict_do_update(
        index_elements=[jobs.c.conversation_id],
        index_where=QUEUED,
        set_={
            "run_at": least(dialect, jobs.c.run_at, stmt.excluded.run_at),
            "attempts": greatest(dialect, jobs.c.attempts, stmt.excluded.attempts),
        },
    )


_UPSERT = Prepared(upsert, COLUMNS)


def enqueue(
    conn: Connection, tenant_id: str, conversation_id: str, run_at: datetime | None = None, attempts: int = 0
) -> None:
    """Make sure the conversation's job is queued to run no later than ``run_at`` (default: now),
    inside the caller's transaction."""
    params = {"tenant_id": tenant_id, "conversation_id": conversation_id, "kind": "conversation"}
    _UPSERT.execute(conn, {**params, "status": "queued", "attempts": attempts, "run_at": run_at or utcnow()})
