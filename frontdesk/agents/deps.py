"""What agents, their tools and their runs need from the running system, as one small typed view.

``frontdesk.runtime.Runtime`` satisfies it structurally; a test passes anything with these
attributes (``frontdesk.testing`` has fakes). Nothing in the agents sees the rest of the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from frontdesk.model.routing import TenantLookup
from frontdesk.security.secrets import SecretBox
from frontdesk.settings import Settings
from frontdesk.store.db import Database

if TYPE_CHECKING:
    from frontdesk.agents.registry import AgentRegistry


class AgentDeps(Protocol):
    @property
    def db(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def secrets(self) -> SecretBox: ...

    @property
    def cache(self) -> TenantLookup: ...

    @property
    def agents(self) -> AgentRegistry:
        """The tenant's model clients and knowledge indexes, built once and shared by turns."""
        ...
