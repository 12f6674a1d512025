"""``frontdesk config ...`` and ``frontdesk knowledge import`` against a real database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from frontdesk.cli.config import config_app, knowledge_app
from frontdesk.config.service import ConfigService
from frontdesk.security.secrets import SecretBox

DOC = {
    "version": 1,
    "agents": [{"agent_id": "asst_general_001", "agent_name": "General"}],
    "channels": [
        {
            "channel_id": "general-sms-001",
            "channel_name": "SMS",
            "channel_type": "sms",
            "provider": "acs",
            "phone_number": "+1234567892",
            "credentials": {"key": "${FRONTDESK_TENANT_DEFAULT__GENERAL_KEY}"},
        }
    ],
    "mappings": [
        {
            "mapping_id": "m1",
            "agent_id": "asst_general_001",
            "channel_id": "general-sms-001",
            "is_primary": True,
        }
    ],
}


@pytest.fixture
def cli(service: ConfigService, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", service.db.url)
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", SecretBox.new_key())
    monkeypatch.setenv("FRONTDESK_TENANT_DEFAULT__GENERAL_KEY", "k")
    return CliRunner()


def write(tmp_path: Any, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_import_export_validate(cli: CliRunner, tmp_path: Any) -> None:
    path = write(tmp_path, "conf.yaml", yaml.safe_dump(DOC))
    dry = cli.invoke(config_app, ["import", path, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would create 1 agent, 1 channel, 1 mapping" in dry.stdout
    assert "asst_general_001" not in cli.invoke(config_app, ["export"]).stdout

    done = cli.invoke(config_app, ["import", path])
    assert done.exit_code == 0 and "Created 1 agent, 1 channel, 1 mapping" in done.stdout
    out = tmp_path / "out.yaml"
    assert cli.invoke(config_app, ["export", "-o", str(out)]).exit_code == 0
    exported = out.read_text()
    assert "key: ${FRONTDESK_TENANT_DEFAULT__GENERAL_SMS_001_KEY}" in exported and ": k\n" not in exported
    assert cli.invoke(config_app, ["export", "--tenant", "default"]).stdout == exported
    valid = cli.invoke(config_app, ["validate", str(out)])
    assert valid.exit_code == 0 and "is valid" in valid.stdout


def test_invalid_file_exits_1_with_one_line_and_writes_nothing(cli: CliRunner, tmp_path: Any) -> None:
    broken = dict(
        DOC,
        channels=[
            dict(DOC["channels"][0], phone_number="+1234567892"),
            dict(DOC["channels"][0], channel_id="twin", routing_key="other"),
        ],
    )
    path = write(tmp_path, "broken.yaml", yaml.safe_dump(broken))
    checked = cli.invoke(config_app, ["validate", path])
    assert checked.exit_code == 1
    # The table wraps long messages: compare letters and digits only.
    flat = "".join(ch for ch in checked.stdout if ch.isalnum())
    assert "Phonenumber1234567892alreadyusedbychannelgeneralsms001" in flat
    assert checked.stderr.strip().count("\n") == 0 and "1 error(s)" in checked.stderr
    imported = cli.invoke(config_app, ["import", path])
    assert imported.exit_code == 1 and "Traceback" not in imported.output
    assert imported.stderr.startswith("error: import refused, nothing was written: Phone number +1234567892")
    assert "asst_general_001" not in cli.invoke(config_app, ["export"]).stdout

    bad = write(tmp_path, "bad.yaml", "agents:\n  - agent_id: x\n   agent_name: [\n")
    result = cli.invoke(config_app, ["import", bad])
    assert result.exit_code == 1 and "line 3, column" in result.stderr and "Traceback" not in result.output
    assert cli.invoke(config_app, ["import"]).exit_code == 2
    assert cli.invoke(config_app, ["import", str(tmp_path / "missing.yaml")]).exit_code == 1


def test_knowledge_import_csv_and_yaml(cli: CliRunner, service: ConfigService, tmp_path: Any) -> None:
    csv_path = write(
        tmp_path,
        "faq.csv",
        "question,answer,tags\n"
        'What are your hours?,9 to 5,hours;opening\nDo you park?,"Yes, free",venue|car\n',
    )
    first = cli.invoke(knowledge_app, ["import", csv_path, "--tenant", "default"])
    assert first.exit_code == 0, first.output
    assert (
        "Imported 2 knowledge entries into tenant 'default' (2 new, 0 updated, 0 unchanged)" in first.stdout
    )
    again = cli.invoke(knowledge_app, ["import", csv_path, "--tenant", "default"])
    assert "(0 new, 0 updated, 2 unchanged)" in again.stdout  # stable ids: no duplicates
    yaml_path = write(tmp_path, "faq.yaml", "- question: Pets?\n  answer: Dogs welcome\n  tags: [pets]\n")
    assert cli.invoke(knowledge_app, ["import", yaml_path, "--tenant", "default"]).exit_code == 0

    bad = write(tmp_path, "bad.csv", "question,answer,tags\nOk?,Yes,\nEmpty answer?,,\n")
    result = cli.invoke(knowledge_app, ["import", bad, "--tenant", "default"])
    assert (
        result.exit_code == 1 and "line 3" in result.stderr and "answer: must not be empty" in result.stderr
    )
    unknown = cli.invoke(knowledge_app, ["import", csv_path, "--tenant", "nobody"])
    assert unknown.exit_code == 1 and "tenant 'nobody' does not exist" in unknown.stderr


async def test_knowledge_rows_written(cli: CliRunner, service: ConfigService, tmp_path: Any) -> None:
    csv_path = write(tmp_path, "faq.csv", "question,answer,tags\nA?,a,x | y\nB?,b,\n")
    # The CLI runs its own event loop: call it from a worker thread, as a user's shell would.
    result = await asyncio.to_thread(cli.invoke, knowledge_app, ["import", csv_path])
    assert result.exit_code == 0, result.output
    entries = await service.list(
        "knowledge", principal=__import__("frontdesk.security.tokens").security.tokens.SYSTEM
    )
    assert sorted((e["question"], tuple(e["tags"])) for e in entries) == [("A?", ("x", "y")), ("B?", ())]
