"""The whole schema: every table module, imported, on the one ``metadata``.

Tables are declared beside what they hold (``tables``: tenants, configuration, conversations,
messages, jobs; ``channel_tables``; ``runs``; ``router_tables``; ``calendar_tables``;
``records_tables``; ``people_tables``), all on ``tables.metadata``. Anything that needs every table (Alembic's
``env.py``, the test comparing the migrations with the declarations) imports this module, so a
table module that is not imported here is one that migrations would not know.
"""

from __future__ import annotations

from frontdesk.store import (  # noqa: F401  (imported for their tables)
    calendar_tables,
    channel_tables,
    people_tables,
    records_tables,
    router_tables,
    runs,
    tables,
)
from frontdesk.store.tables import metadata

__all__ = ["metadata"]
