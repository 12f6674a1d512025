"""Frontdesk: AI agents on business messaging channels, self-hosted and multi-tenant."""

__version__ = "0.1.0"

from frontdesk.model.config import (
    AgentChannelMapping,
    AgentConfig,
    ChannelConfig,
    KnowledgeEntry,
    TenantConfig,
)
from frontdesk.runtime.config_manager import get_config_manager

__all__ = [
    "AgentChannelMapping",
    "AgentConfig",
    "ChannelConfig",
    "KnowledgeEntry",
    "TenantConfig",
    "__version__",
    "get_config_manager",
]
