"""Frontdesk: AI agents on business messaging channels, self-hosted and multi-tenant."""

__version__ = "0.1.0"

from frontdesk.config.manager import get_config_manager
from frontdesk.model.config import (
    AgentChannelMapping,
    AgentConfig,
    ChannelConfig,
    KnowledgeEntry,
    TenantConfig,
)

__all__ = [
    "AgentChannelMapping",
    "AgentConfig",
    "ChannelConfig",
    "KnowledgeEntry",
    "TenantConfig",
    "__version__",
    "get_config_manager",
]
