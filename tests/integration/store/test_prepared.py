"""``store.prepared.Prepared``: what it stores is what ``conn.execute`` stores, on either database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from frontdesk.store.db import Database
from frontdesk.store.dialect import insert_for
from frontdesk.store.prepared import Prepared

metadata = sa.MetaData()
probe = sa.Table(
    "fd_prepared_probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("doc", sa.JSON),
    sa.Column("flag", sa.Boolean, nullable=False, default=False),
    sa.Column("kind", sa.String(10), nullable=False, default="plain"),
    sa.Column("tags", sa.JSON, default=list),
)
COLUMNS = ["id", "name", "at", "doc", "flag", "tags"]
INSERT = Prepared(probe.insert(), COLUMNS)
UPSERT = Prepared(
    lambda dialect: (
        insert_for(dialect, probe).on_conflict_do_nothing(index_elements=["name"]).returning(probe.c.id)
    ),
    COLUMNS,
)
NAME_OF = Prepared(
    sa.select(probe.c.name).where(probe.c.id == sa.bindparam("id"), probe.c.kind == "plain"), ["id"]
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.run_write(metadata.create_all)
    try:
        yield db
    finally:
        await db.dispose()


def _row(value_id: int, name: str) -> dict:
    return {
        "id": value_id,
        "name": name,
        "at": datetime(2026, 12, 4, 3, 4, 5, 678901, tzinfo=UTC),
        "doc": {"a": [1, "é", None]},
        "flag": True,
        "tags": ["x"],
    }


async def test_values_are_stored_as_conn_execute_stores_them(db: Database) -> None:
    await db.run_write(lambda conn: INSERT.execute(conn, _row(1, "prepared")))
    await db.run_write(lambda conn: conn.execute(probe.insert(), _row(2, "executed")))
    await db.run_write(lambda conn: INSERT.execute(conn, {**_row(3, "nulls"), "doc": None, "at": None}))
    await db.run_write(
        lambda conn: conn.execute(probe.insert(), {**_row(4, "nulls too"), "doc": None, "at": None})
    )
    rows = await db.run_read(lambda conn: conn.execute(sa.select(probe).order_by(probe.c.id)).all())
    one, two, three, four = (row._asdict() for row in rows)
    assert {**one, "id": 0, "name": ""} == {**two, "id": 0, "name": ""}
    assert {**three, "id": 0, "name": ""} == {**four, "id": 0, "name": ""}
    assert one["kind"] == "plain" and one["doc"] == {"a": [1, "é", None]}  # a scalar default, filled in
    # Raw storage too, not only what SQLAlchemy reads back.
    raw = await db.run_read(
        lambda conn: conn.exec_driver_sql("SELECT at, doc FROM fd_prepared_probe ORDER BY id").all()
    )
    assert raw[0] == raw[1] and raw[2] == raw[3]


async def test_results_errors_and_per_dialect_statements(db: Database) -> None:
    assert await db.run_write(lambda conn: UPSERT.scalar(conn, _row(1, "first"))) == 1
    assert await db.run_write(lambda conn: UPSERT.scalar(conn, _row(2, "first"))) is None  # the conflict
    assert await db.run_read(lambda conn: NAME_OF.scalar(conn, {"id": 1})) == "first"
    assert await db.run_read(lambda conn: NAME_OF.all(conn, {"id": 9})) == []
    with pytest.raises(IntegrityError):  # the driver's error, as SQLAlchemy's
        await db.run_write(lambda conn: INSERT.execute(conn, _row(1, "again")))
    assert (
        await db.run_read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar())
        == 1
    )


async def test_a_statement_that_cannot_be_prepared_says_why(db: Database) -> None:
    cases = [
        (Prepared(probe.insert(), ["name"]), "computed default"),  # tags' default is a function
        (Prepared(sa.select(probe.c.id).where(probe.c.name == sa.bindparam("name"))), "not among its keys"),
        (
            Prepared(
                sa.select(probe.c.id).where(probe.c.id.in_(sa.bindparam("ids", expanding=True))), ["ids"]
            ),
            "IN",
        ),
    ]
    for statement, reason in cases:
        with pytest.raises(ValueError, match=reason):
            await db.run_read(
                lambda conn, statement=statement: statement.execute(conn, {"name": "x", "ids": [1]})
            )
