"""The synchronous Python API (seed 000's "Method 3"), for plain scripts::

    from frontdesk import get_config_manager, AgentConfig

    config_manager = get_config_manager()
    config_manager.add_agent(AgentConfig(agent_id="asst_wedding_001", agent_name="Wedding Planner"))

It runs the same ConfigService as the server (same rules, same audit log, actor ``python-api``)
on an event loop in a background thread (anyio's blocking portal), so it works in scripts,
notebooks and inside programs that already run a loop of their own. At exit the managers still
open close their databases and stop their loops.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from anyio.from_thread import start_blocking_portal
from pydantic import BaseModel

from frontdesk.agents import config_rules
from frontdesk.config import yaml_io
from frontdesk.config.service import ConfigService
from frontdesk.errors import NotFound
from frontdesk.model.config import (
    AgentChannelMapping,
    AgentConfig,
    ChannelConfig,
    KnowledgeEntry,
    TenantConfig,
)
from frontdesk.security.secrets import load_secret_box
from frontdesk.security.tokens import SYSTEM
from frontdesk.settings import get_settings
from frontdesk.store.db import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.tenants import ensure_default_tenant

T = TypeVar("T")
ACTOR = "python-api"
MODELS: dict[str, type[BaseModel]] = {
    "tenant": TenantConfig,
    "agent": AgentConfig,
    "channel": ChannelConfig,
    "mapping": AgentChannelMapping,
    "knowledge": KnowledgeEntry,
}


async def open_service(database_url: str | None = None) -> ConfigService:
    """A ConfigService on a migrated database with its default tenant (CLI and Python API)."""
    config_rules.register()
    settings = get_settings(database_url=database_url) if database_url else get_settings()
    box = load_secret_box(settings)
    db = Database(settings.database_url)
    await upgrade(db.engine)
    await ensure_default_tenant(db)
    return ConfigService(db, box)


def _data(obj: BaseModel | dict[str, Any]) -> dict[str, Any]:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    return dict(obj)


def _model(kind: str, public: dict[str, Any]) -> Any:
    data = {k: v for k, v in public.items() if k != "credentials_set"}
    return MODELS[kind].model_validate(data)  # channels come back without their credentials


class ConfigManager:
    """Synchronous configuration API; every method is one ConfigService call."""

    def __init__(self, database_url: str | None = None) -> None:
        self._exit = contextlib.ExitStack()
        self._portal = self._exit.enter_context(start_blocking_portal(name="frontdesk-config"))
        try:
            self.service: ConfigService = self._portal.call(open_service, database_url)
        except BaseException:
            self._exit.close()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._portal.call(lambda: coro)

    def close(self) -> None:
        """Release the database and stop the background loop (also done at exit)."""
        with self._exit:
            if getattr(self, "service", None) is not None:
                self._portal.call(self.service.db.dispose)
                del self.service

    # generic ---------------------------------------------------------------------------------

    def add(self, kind: str, obj: BaseModel | dict[str, Any]) -> Any:
        return _model(kind, self._run(self.service.create(kind, _data(obj), principal=SYSTEM, actor=ACTOR)))

    def update(self, kind: str, object_id: str, patch: dict[str, Any]) -> Any:
        return _model(
            kind, self._run(self.service.update(kind, object_id, patch, principal=SYSTEM, actor=ACTOR))
        )

    def delete(self, kind: str, object_id: str) -> None:
        self._run(self.service.delete(kind, object_id, principal=SYSTEM, actor=ACTOR))

    def get(self, kind: str, object_id: str) -> Any:
        """The object, or None when there is none with that id."""
        try:
            return _model(kind, self._run(self.service.get(kind, object_id, principal=SYSTEM)))
        except NotFound:
            return None

    def list(self, kind: str, /, tenant_id: str | None = None, **filters: Any) -> list[Any]:
        rows = self._run(
            self.service.list(kind, principal=SYSTEM, tenant_id=tenant_id, limit=None, **filters)
        )
        return [_model(kind, r) for r in rows]

    # seed 000's names --------------------------------------------------------------------------

    def add_agent(self, agent: AgentConfig | dict[str, Any]) -> AgentConfig:
        return self.add("agent", agent)

    def update_agent(self, agent_id: str, patch: dict[str, Any]) -> AgentConfig:
        return self.update("agent", agent_id, patch)

    def delete_agent(self, agent_id: str) -> None:
        self.delete("agent", agent_id)

    def get_agent(self, agent_id: str) -> AgentConfig | None:
        return self.get("agent", agent_id)

    def list_agents(self, tenant_id: str | None = None, **filters: Any) -> builtins.list[AgentConfig]:
        return self.list("agent", tenant_id, **filters)

    def add_channel(self, channel: ChannelConfig | dict[str, Any]) -> ChannelConfig:
        return self.add("channel", channel)

    def update_channel(self, channel_id: str, patch: dict[str, Any]) -> ChannelConfig:
        return self.update("channel", channel_id, patch)

    def delete_channel(self, channel_id: str) -> None:
        self.delete("channel", channel_id)

    def get_channel(self, channel_id: str) -> ChannelConfig | None:
        return self.get("channel", channel_id)

    def list_channels(self, tenant_id: str | None = None, **filters: Any) -> builtins.list[ChannelConfig]:
        return self.list("channel", tenant_id, **filters)

    def add_mapping(self, mapping: AgentChannelMapping | dict[str, Any]) -> AgentChannelMapping:
        return self.add("mapping", mapping)

    def update_mapping(self, mapping_id: str, patch: dict[str, Any]) -> AgentChannelMapping:
        return self.update("mapping", mapping_id, patch)

    def delete_mapping(self, mapping_id: str) -> None:
        self.delete("mapping", mapping_id)

    def get_mapping(self, mapping_id: str) -> AgentChannelMapping | None:
        return self.get("mapping", mapping_id)

    def list_mappings(
        self, tenant_id: str | None = None, **filters: Any
    ) -> builtins.list[AgentChannelMapping]:
        return self.list("mapping", tenant_id, **filters)

    def add_tenant(self, tenant: TenantConfig | dict[str, Any]) -> TenantConfig:
        return self.add("tenant", tenant)

    def update_tenant(self, tenant_id: str, patch: dict[str, Any]) -> TenantConfig:
        return self.update("tenant", tenant_id, patch)

    def delete_tenant(self, tenant_id: str) -> None:
        self.delete("tenant", tenant_id)

    def get_tenant(self, tenant_id: str) -> TenantConfig | None:
        return self.get("tenant", tenant_id)

    def list_tenants(self) -> builtins.list[TenantConfig]:
        return self.list("tenant")

    def add_knowledge(self, entry: KnowledgeEntry | dict[str, Any]) -> KnowledgeEntry:
        return self.add("knowledge", entry)

    def update_knowledge(self, entry_id: str, patch: dict[str, Any]) -> KnowledgeEntry:
        return self.update("knowledge", entry_id, patch)

    def delete_knowledge(self, entry_id: str) -> None:
        self.delete("knowledge", entry_id)

    def get_knowledge(self, entry_id: str) -> KnowledgeEntry | None:
        return self.get("knowledge", entry_id)

    def list_knowledge(self, tenant_id: str | None = None, **filters: Any) -> builtins.list[KnowledgeEntry]:
        return self.list("knowledge", tenant_id, **filters)

    # whole configuration ----------------------------------------------------------------------

    def get_agent_for_phone(self, phone: str) -> AgentConfig | None:
        """The agent that answers messages to ``phone``, or None."""
        found = self._run(self.service.get_agent_for_phone(phone))
        return _model("agent", found) if found else None

    def validate(self, tenant_id: str | None = None) -> dict[str, Any]:
        return self._run(self.service.validate(tenant_id))

    def stats(self, tenant_id: str | None = None) -> dict[str, Any]:
        return self._run(self.service.stats(tenant_id))

    def export(self, tenant_id: str | None = None) -> dict[str, Any]:
        return self._run(self.service.export(tenant_id))

    def import_(self, doc_or_path: dict[str, Any] | str | Path, dry_run: bool = False) -> dict[str, Any]:
        """Import a document (dict) or a YAML/JSON file path; all or nothing."""
        doc = doc_or_path if isinstance(doc_or_path, dict) else yaml_io.load_file(str(doc_or_path))
        return self._run(self.service.import_(doc, principal=SYSTEM, dry_run=dry_run, actor=ACTOR))

    def audit(
        self, tenant_id: str | None = None, skip: int = 0, limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        return self._run(self.service.audit(tenant_id, skip, limit, principal=SYSTEM))[0]


_managers: dict[str, ConfigManager] = {}
_lock = threading.Lock()


def get_config_manager(database_url: str | None = None) -> ConfigManager:
    """The ConfigManager for ``database_url`` (default: ``FRONTDESK_DATABASE_URL``), one per URL."""
    url = database_url or get_settings().database_url
    with _lock:
        manager = _managers.get(url)
        if manager is None:
            manager = _managers[url] = ConfigManager(url)
        return manager


@atexit.register
def _close_all() -> None:
    for manager in list(_managers.values()):
        manager.close()
    _managers.clear()
