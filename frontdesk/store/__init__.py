"""Storage: SQLAlchemy tables, the database handle, repositories and migrations."""

from frontdesk.store.db import Database
from frontdesk.store.schema import metadata

__all__ = ["Database", "metadata"]
