"""The public surface of ``frontdesk``: exactly these names, each the object of its home module."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import frontdesk

PUBLIC = {
    "__version__": "frontdesk",
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
    **{
        name: "frontdesk.errors"
        for name in (
            "FrontdeskError",
            "ConfigError",
            "ConflictError",
            "NotFound",
            "AuthError",
            "Forbidden",
            "RateLimited",
            "BadRequest",
            "UnsupportedMediaType",
            "InvalidSignature",
            "DeliveryError",
            "RetryableDelivery",
            "PermanentDelivery",
            "OutboundError",
            "BlockedDestination",
            "OutboundTimeout",
            "BookingRefused",
            "FullyBooked",
            "SyncFailed",
            "ToolError",
        )
    },
}
ROOT = Path(__file__).resolve().parents[2]


def test_all_is_the_public_surface() -> None:
    assert sorted(frontdesk.__all__) == sorted(PUBLIC)
    assert len(frontdesk.__all__) == len(set(frontdesk.__all__))


def test_each_public_name_is_its_home_modules_object() -> None:
    for name, home in PUBLIC.items():
        assert getattr(frontdesk, name) is getattr(importlib.import_module(home), name), name
    assert set(PUBLIC) <= set(dir(frontdesk))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        frontdesk.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_import_frontdesk_loads_none_of_its_modules() -> None:
    # Config, store and the rest load on first use of a name, not with the package.
    script = "import sys, frontdesk; print(sorted(m for m in sys.modules if m.startswith('frontdesk.')))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
    first_use = "import sys, frontdesk; frontdesk.AgentConfig; print('frontdesk.store' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", first_use], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
