"""The migrations build exactly the schema the table modules declare (``store.schema``).

A freshly migrated database is compared with the declarations by Alembic's own autogenerate
comparison: any difference (a table, column, index, constraint or type the migrations and the
declarations disagree on) is what ``alembic revision --autogenerate`` would emit, and fails here.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from frontdesk.store.db import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.schema import metadata


def _same_default(
    context: Any, inspected: Any, declared: Any, inspected_default: Any, declared_default: Any, rendered: Any
) -> bool | None:
    """Alembic's own comparison (None), except where it is wrong: on SQLite it unquotes a reflected
    string default only when it is not empty, so a declared ``server_default=""`` always differs."""
    if inspected_default in ("''", "('')") and rendered == "":
        return False
    return None


def _differences(conn: Connection) -> list[Any]:
    options = {"compare_type": True, "compare_server_default": _same_default}
    context = MigrationContext.configure(conn, opts=options)
    return compare_metadata(context, metadata)


async def test_migrations_match_the_declared_tables(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db.engine)
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await db.dispose()
    assert [repr(d) for d in differences] == []


def test_every_table_module_is_in_the_schema() -> None:
    names = set(metadata.tables)
    assert {"agent_runs", "router_state", "channel_health", "mock_sends", "unattributed_messages"} <= names
    assert {"records", "record_datasets", "calendar_appointments", "calendar_slots"} <= names
    assert {"calendar_busy", "calendar_state"} <= names
