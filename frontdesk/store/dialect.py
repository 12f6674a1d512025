"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from frontdesk.store.db import Database


def insert(db: Database, table: sa.Table):
    """An INSERT that understands ON CONFLICT on either database."""
    return sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)


def least(db: Database, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.min(a, b) if db.is_sqlite else sa.func.least(a, b)


def greatest(db: Database, a: sa.ColumnElement, b: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.max(a, b) if db.is_sqlite else sa.func.greatest(a, b)
