"""The running system without HTTP: database, secrets, queue, workers, agents, adapters.

``create_app`` serves it over HTTP; ``frontdesk chat`` and the Python API use it directly. One
code path either way.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from frontdesk.agents import config_rules
from frontdesk.agents.registry import AgentRegistry
from frontdesk.calendar.sync import CalendarSync
from frontdesk.channels.health import ChannelHealth
from frontdesk.channels.registry import AdapterRegistry
from frontdesk.config.service import ConfigService
from frontdesk.config.tenant_secrets import seal_stored
from frontdesk.model.config import DEFAULT_TENANT
from frontdesk.pipeline.cache import RoutingCache
from frontdesk.pipeline.ingest import Ingest
from frontdesk.pipeline.notify import Notifier
from frontdesk.pipeline.notify_pg import PgRelay
from frontdesk.pipeline.queue.local import LocalQueue
from frontdesk.pipeline.ratelimit import SendRateLimiter
from frontdesk.pipeline.turn import requeue_unanswered
from frontdesk.pipeline.worker import WorkerPool
from frontdesk.runtime import gc_tuning
from frontdesk.security.secrets import SecretBox, load_secret_box
from frontdesk.security.ssrf import allow_list, guarded_client
from frontdesk.settings import Settings
from frontdesk.store.db import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.repositories import Store
from frontdesk.store.tenants import ensure_default_tenant

log = structlog.get_logger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        config_rules.register()
        self.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        self.secrets: SecretBox = load_secret_box(settings)
        self.notifier = Notifier()
        if not self.db.is_sqlite:  # other processes (workers, servers) share this database
            self.notifier.relay = PgRelay(self.db, self.notifier)
        self.queue = LocalQueue(self.db, settings)
        self.store = Store(self.db)
        self.ingest = Ingest(self.store.inbound, self.queue, self.notifier)
        self.cache = RoutingCache(self.db, self.secrets, ttl=settings.config_cache_seconds)
        self.agents = AgentRegistry(lambda: allow_list(self.settings))
        self.adapters = AdapterRegistry(self.db, public_url=settings.public_url, mock=settings.mock_providers)
        self.channel_health = ChannelHealth(self.db)
        self.send_limiter = SendRateLimiter(settings.redis_url or None)
        self.config = ConfigService(
            self.db, self.secrets, on_change=self._config_changed, allow=lambda: allow_list(self.settings)
        )
        self.workers = WorkerPool(self, size=settings.workers)
        self.calendar_sync = CalendarSync(self)
        self.token_cache: dict[str, Any] = {}
        # Provider APIs at the operator's base URLs; everything a tenant can point goes through ``outbound``.
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        self.outbound = guarded_client(
            lambda: allow_list(self.settings), timeout=httpx.Timeout(15.0, connect=5.0)
        )
        self.started = False

    async def start(self, *, migrate: bool = True, workers: bool | None = None) -> None:
        if migrate:
            await upgrade(self.db.engine)
        await ensure_default_tenant(self.db)
        await seal_stored(self.db, self.secrets)  # tenant secrets written in clear before they were sealed
        run = self.settings.run_workers if workers is None else workers
        if run:
            await self.workers.start()
            await self.calendar_sync.start()
        gc_tuning.tune(self.settings.gc_threshold)
        self.started = True

    async def stop(self) -> None:
        await self.workers.stop()
        await self.calendar_sync.stop()
        await self.agents.aclose()
        await self.http.aclose()
        await self.outbound.aclose()
        await self.notifier.aclose()
        await self.db.dispose()
        self.started = False

    async def _config_changed(self, kind: str, action: str, before: dict | None, after: dict | None) -> None:
        tenant_id = (after or before or {}).get("tenant_id", DEFAULT_TENANT)
        self.cache.invalidate()
        self.agents.invalidate(tenant_id)
        self.token_cache.clear()
        resumed = (
            kind == "agent"
            and before is not None
            and after is not None
            and before.get("status") != "active"
            and after.get("status") == "active"
        )
        if resumed or kind in ("mapping", "channel"):
            count = await requeue_unanswered(self, tenant_id)
            if count:
                log.info("requeued held conversations", tenant_id=tenant_id, conversations=count)
