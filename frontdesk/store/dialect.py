"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from frontdesk.store.db import Database


def insert(db: Database, table: sa.Table):
    """An INSERT that understands ON CONFLICT on either database."""
    return sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)


def insert_for(dialect: Dialect, table: sa.Table):
    """``insert`` for a dialect (a ``store.prepared.Prepared`` statement, compiled per dialect)."""
    return sqlite.insert(table) if dialect.name == "sqlite" else postgresql.insert(table)


def least(dialect: Dialect, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.min(a, b) if dialect.name == "sqlite" else sa.func.least(a, b)


def greatest(dialect: Dialect, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.max(a, b) if dialect.name == "sqlite" else sa.func.greatest(a, b)
