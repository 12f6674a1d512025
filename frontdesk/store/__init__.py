"""Storage: SQLAlchemy tables, the database handle, repositories and migrations."""

from frontdesk.store.db import Database
from frontdesk.store.tables import metadata

__all__ = ["Database", "metadata"]
