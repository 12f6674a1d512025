"""Seed 000's "Method 3" script runs unchanged (apart from its import line) against Frontdesk."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from frontdesk.config.service import ConfigService
from frontdesk.errors import ConfigError, ConflictError
from frontdesk.runtime.config_manager import ConfigManager
from frontdesk.security.secrets import SecretBox
from frontdesk.security.tokens import SYSTEM

SEED_METHOD_3 = """
from frontdesk import get_config_manager, AgentConfig, ChannelConfig, AgentChannelMapping

config_manager = get_config_manager()

# Add agent
agent = AgentConfig(
    agent_id="asst_wedding_001",
    agent_name="Wedding Planner",
    foundry_endpoint="https://your-endpoint.cognitiveservices.azure.com/",
    description="Specialized wedding planning assistant"
)
config_manager.add_agent(agent)

# Add channel
channel = ChannelConfig(
    channel_id="wedding-whatsapp-001",
    channel_name="Wedding Business WhatsApp",
    channel_type="whatsapp",
    provider="infobip",
    phone_number="+1234567890",
    business_name="Dream Weddings"
)
config_manager.add_channel(channel)

# Create mapping
mapping = AgentChannelMapping(
    mapping_id="mapping_001",
    agent_id="asst_wedding_001",
    channel_id="wedding-whatsapp-001",
    is_primary=True
)
config_manager.add_mapping(mapping)
"""


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(service: ConfigService, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    key = SecretBox.new_key()
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", service.db.url)
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", key)
    # PYTHONPATH: the script must import this checkout's frontdesk, however the venv installed it.
    root = str(Path(__file__).resolve().parents[3])
    return {
        **os.environ,
        "FRONTDESK_DATABASE_URL": service.db.url,
        "FRONTDESK_SECRET_KEY": key,
        "PYTHONPATH": root,
    }


async def test_seed_script_runs_unchanged(service: ConfigService, env: dict[str, str], tmp_path: Any) -> None:
    script = tmp_path / "setup.py"
    script.write_text(SEED_METHOD_3)
    done = await asyncio.to_thread(run_script, script, env)
    assert done.returncode == 0, done.stderr
    agent = await service.get_agent_for_phone("+1234567890")
    assert agent is not None and agent["agent_id"] == "asst_wedding_001"
    entries, total = await service.audit(principal=SYSTEM)
    assert total == 3 and {e["actor"] for e in entries} == {"python-api"}
    # Run twice: the second run is refused with seed 000's message, and nothing changes.
    again = await asyncio.to_thread(run_script, script, env)
    assert again.returncode == 1 and "Agent 'asst_wedding_001' already exists" in again.stderr
    assert (await service.audit(principal=SYSTEM))[1] == 3


def test_manager_methods(service: ConfigService, env: dict[str, str]) -> None:
    from frontdesk import AgentConfig, ChannelConfig

    manager = ConfigManager(service.db.url)
    try:
        manager.add_agent({"agent_id": "asst_1", "agent_name": "One"})
        created = manager.add_channel(
            ChannelConfig(
                channel_id="c1",
                channel_name="C",
                channel_type="sms",
                provider="infobip",
                phone_number="+14155550100",
                credentials={"auth_token": "s3cret"},
            )
        )
        assert isinstance(created, ChannelConfig) and created.credentials == {}
        manager.add_mapping({"agent_id": "asst_1", "channel_id": "c1", "is_primary": True})
        found = manager.get_agent_for_phone("+14155550100")
        assert isinstance(found, AgentConfig) and found.agent_id == "asst_1"
        assert manager.get_agent_for_phone("+14155550199") is None
        assert manager.get_channel("nope") is None
        assert manager.update_channel("c1", {"routing_key": "acs-reg-1"}).routing_key == "acs-reg-1"
        with pytest.raises(ConfigError, match=r"channel_id cannot be changed.*routing_key"):
            manager.update_channel("c1", {"channel_id": "actual_channel_registration_id_from_acs"})
        with pytest.raises(ConflictError):
            manager.add_channel(
                {
                    "channel_id": "c2",
                    "channel_name": "C",
                    "channel_type": "sms",
                    "provider": "infobip",
                    "phone_number": "+14155550100",
                }
            )
        assert [a.agent_id for a in manager.list_agents(status="active")] == ["asst_1"]
        assert manager.validate()["valid"] is True
        doc = manager.export()
        assert manager.import_(doc, dry_run=True)["changes"] == []
        manager.delete_agent("asst_1")
        assert manager.list_mappings() == []
    finally:
        manager.close()
