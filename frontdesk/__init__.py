"""Frontdesk: AI agents on business messaging channels, self-hosted and multi-tenant.

The public surface, importable from here; the modules behind it may change::

    create_app, Runtime                      the server and the running system without HTTP
    get_config_manager, ConfigManager        the synchronous Python configuration API
    TenantConfig, AgentConfig, ChannelConfig,
    AgentChannelMapping, KnowledgeEntry      the configuration's models
    Agent, ChannelAdapter, JobQueue          the contracts an agent kind, a provider, a queue implement
    FrontdeskError and its branches          the errors a caller meets or raises (frontdesk/errors.py;
                                             the few left out there never leave a turn)

Each name is imported on first use, so ``import frontdesk`` stays cheap: a script that reads
``frontdesk.__version__`` loads neither the configuration nor the database layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_ERRORS = (
    "AuthError",
    "BadRequest",
    "BlockedDestination",
    "BookingRefused",
    "ConfigError",
    "ConflictError",
    "DeliveryError",
    "Forbidden",
    "FrontdeskError",
    "FullyBooked",
    "InvalidSignature",
    "NotFound",
    "OutboundError",
    "OutboundTimeout",
    "PermanentDelivery",
    "RateLimited",
    "RetryableDelivery",
    "SyncFailed",
    "ToolError",
    "UnsupportedMediaType",
)
# Each public name, and the module it lives in.
_HOMES: dict[str, str] = {
    "create_app": "frontdesk.app",
    "Runtime": "frontdesk.runtime",
    "ConfigManager": "frontdesk.runtime.config_manager",
    "get_config_manager": "frontdesk.runtime.config_manager",
    "AgentChannelMapping": "frontdesk.model.config",
    "AgentConfig": "frontdesk.model.config",
    "ChannelConfig": "frontdesk.model.config",
    "KnowledgeEntry": "frontdesk.model.config",
    "TenantConfig": "frontdesk.model.config",
    "Agent": "frontdesk.agents.base",
    "ChannelAdapter": "frontdesk.channels.base",
    "JobQueue": "frontdesk.pipeline.queue.base",
    **dict.fromkeys(_ERRORS, "frontdesk.errors"),
}

__all__ = [
    "Agent",
    "AgentChannelMapping",
    "AgentConfig",
    "AuthError",
    "BadRequest",
    "BlockedDestination",
    "BookingRefused",
    "ChannelAdapter",
    "ChannelConfig",
    "ConfigError",
    "ConfigManager",
    "ConflictError",
    "DeliveryError",
    "Forbidden",
    "FrontdeskError",
    "FullyBooked",
    "InvalidSignature",
    "JobQueue",
    "KnowledgeEntry",
    "NotFound",
    "OutboundError",
    "OutboundTimeout",
    "PermanentDelivery",
    "RateLimited",
    "RetryableDelivery",
    "Runtime",
    "SyncFailed",
    "TenantConfig",
    "ToolError",
    "UnsupportedMediaType",
    "__version__",
    "create_app",
    "get_config_manager",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'frontdesk' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # imported once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and editors see; at run time, __getattr__ above
    from frontdesk.agents.base import Agent
    from frontdesk.app import create_app
    from frontdesk.channels.base import ChannelAdapter
    from frontdesk.errors import (
        AuthError,
        BadRequest,
        BlockedDestination,
        BookingRefused,
        ConfigError,
        ConflictError,
        DeliveryError,
        Forbidden,
        FrontdeskError,
        FullyBooked,
        InvalidSignature,
        NotFound,
        OutboundError,
        OutboundTimeout,
        PermanentDelivery,
        RateLimited,
        RetryableDelivery,
        SyncFailed,
        ToolError,
        UnsupportedMediaType,
    )
    from frontdesk.model.config import (
        AgentChannelMapping,
        AgentConfig,
        ChannelConfig,
        KnowledgeEntry,
        TenantConfig,
    )
    from frontdesk.pipeline.queue.base import JobQueue
    from frontdesk.runtime import Runtime
    from frontdesk.runtime.config_manager import ConfigManager, get_config_manager
