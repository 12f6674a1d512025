"""A script using the Python API ends quietly, its database closed (the portal stops at exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_KEY

SCRIPT = """
import sys
from frontdesk import AgentConfig, get_config_manager

manager = get_config_manager(sys.argv[1])
manager.add_agent(AgentConfig(agent_id="asst_exit", agent_name="Exit"))
print(len(manager.list_agents()))
"""
ROOT = Path(__file__).resolve().parents[3]


def test_a_script_ends_without_a_traceback_and_closes_its_database(database_url: str, tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FRONTDESK_SECRET_KEY": TEST_KEY}
    done = subprocess.run(
        [sys.executable, str(script), database_url], env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "1\n", "")
    if database_url.startswith("sqlite"):
        # The last connection to close checkpoints and removes the write-ahead log.
        assert not (tmp_path / "frontdesk.db-wal").exists()
