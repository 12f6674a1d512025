"""Prepared statements: SQLAlchemy Core statements compiled once, run on the DB-API cursor.

On the hot path (a webhook's ingest, a turn's writes) SQLAlchemy's own execution costs several
times what the database does: measured on SQLite, ~35 µs of Python around a ~10 µs INSERT, for
each statement of every message. A ``Prepared`` keeps what SQLAlchemy computes for a statement
(its SQL for the connection's dialect, the parameter order, each parameter's bind processor, the
scalar Python defaults of an INSERT's columns) and runs it straight on the driver's cursor, so
values are stored exactly as ``conn.execute`` would store them.

What it leaves out, by design: result processing (rows come back as the driver gives them: use it
for ids, strings and numbers, not for datetimes or JSON read back), expanding IN lists, and
callable column defaults (pass such values explicitly; compiling says so). Driver errors come out
wrapped as SQLAlchemy's (``IntegrityError``, ``DataError``, ...), as the callers expect.

The statements are still written with SQLAlchemy from the table definitions; only their
execution is shortcut. Compiled lazily, per dialect (the hot path's synchronous drivers and the
async engine's differ).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Insert
from sqlalchemy.sql.compiler import SQLCompiler


class Prepared:
    """``statement`` with the parameters ``keys`` (an INSERT's columns; the named bindparams of any
    other statement), ready to run on a connection's DB-API cursor. ``statement`` may be a function
    of the dialect, for SQL written differently per database (``store.dialect.insert_for``)."""

    __slots__ = ("_compiled", "_dialect", "keys", "statement")

    def __init__(
        self, statement: ClauseElement | Callable[[Dialect], ClauseElement], keys: Iterable[str] = ()
    ) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self._dialect: Dialect | None = None
        self._compiled: _Compiled | None = None

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """Run the statement; the driver's cursor (``fetchone()``, ``rowcount``)."""
        dialect = conn.dialect
        compiled = self._compiled
        if compiled is None or dialect is not self._dialect:
            statement = self.statement(dialect) if callable(self.statement) else self.statement
            compiled = self._compiled = _Compiled(statement, self.keys, dialect)
            self._dialect = dialect
        values = compiled.values(params or {})
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # checked out
        try:
            cursor.execute(compiled.sql, values)
        except dialect.loaded_dbapi.Error as exc:
            # As conn.execute would: a lost connection is invalidated (its thread opens a new one).
            lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                compiled.sql,
                values,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from exc
        return cursor

    def scalar(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None (no row)."""
        row = self.execute(conn, params).fetchone()
        return None if row is None else row[0]

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> tuple | None:
        return self.execute(conn, params).fetchone()

    def all(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.execute(conn, params).fetchall()

    def rowcount(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        return self.execute(conn, params).rowcount


class _Compiled:
    """What one dialect's compilation gives: the SQL, and how to turn params into the driver's."""

    __slots__ = ("_keys", "constants", "names", "positional", "processors", "sql")

    def __init__(self, statement: ClauseElement, keys: tuple[str, ...], dialect: Dialect) -> None:
        # An INSERT's columns are its keys; any other statement names its parameters itself (and
        # column keys would add SET clauses to an UPDATE, even one inside a CTE).
        columns = list(keys) if isinstance(statement, Insert) and keys else None
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        assert isinstance(compiled, SQLCompiler)
        # Each parameter by the name it has in the SQL (``compiled.binds`` also holds the
        # anonymous keys of some, under CTEs).
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        if any(bind.expanding for bind in binds.values()):
            raise ValueError("a Prepared statement cannot expand IN lists; build one per size")
        self.sql = compiled.string
        self.positional = compiled.positional
        # Values fixed in the statement (literals in a WHERE clause), then scalar column defaults.
        constants = {k: b.effective_value for k, b in binds.items() if k not in keys and not b.required}
        for column, default in [
            *((c, c.default) for c in compiled.insert_prefetch),
            *((c, c.onupdate) for c in compiled.update_prefetch),
        ]:
            if column.key in keys:
                continue
            if default is None or not default.is_scalar:
                raise ValueError(f"column {column.key!r} has a computed default: pass its value")
            constants[column.key] = default.arg  # type: ignore[attr-defined]  # a scalar default
        missing = sorted(k for k in binds if k not in keys and k not in constants)
        if missing:
            raise ValueError(f"parameters the statement needs are not among its keys: {missing}")
        self.constants = constants
        names = tuple(compiled.positiontup or binds)
        escaped = compiled.escaped_bind_names
        self.names = names if self.positional else tuple(escaped.get(n, n) for n in names)
        self.processors = [binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
        self._keys = names

    def values(self, params: Mapping[str, Any]) -> Any:
        constants = self.constants
        out = [
            value if process is None else process(value)
            for process, value in zip(
                self.processors,
                [params[k] if k in params else constants[k] for k in self._keys],
                strict=True,
            )
        ]
        return tuple(out) if self.positional else dict(zip(self.names, out, strict=True))
