"""``frontdesk prompt show|set-template|reset`` against a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from frontdesk.cli import app
from frontdesk.security.secrets import SecretBox

DOC = {
    "version": 1,
    "tenants": [
        {
            "tenant_id": "bloom",
            "name": "Bloom Florists",
            "timezone": "America/New_York",
            "business_profile": {"services": [{"name": "Bridal bouquet", "price": "120 USD"}]},
        }
    ],
    "agents": [
        {
            "agent_id": "asst_bloom",
            "agent_name": "Rosa",
            "tenant_id": "bloom",
            "kind": "llm",
            "config": {
                "model": "gpt-4o-mini",
                "api_key_env": "FRONTDESK_TENANT_BLOOM__KEY",
                "instructions": "Mention delivery.",
            },
        }
    ],
}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'fd.db'}")
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", SecretBox.new_key())
    runner = CliRunner()
    conf = tmp_path / "conf.yaml"
    conf.write_text(yaml.safe_dump(DOC))
    result = runner.invoke(app, ["config", "import", str(conf)])
    assert result.exit_code == 0, result.output
    return runner


def test_show_set_reset(cli: CliRunner, tmp_path: Path) -> None:
    shown = cli.invoke(app, ["prompt", "show", "asst_bloom"])
    assert shown.exit_code == 0, shown.output
    assert "You are Rosa, the assistant of Bloom Florists." in shown.stdout
    assert "- Bridal bouquet, 120 USD" in shown.stdout and "Mention delivery." in shown.stdout
    assert "(America/New_York)" in shown.stdout
    assert "template: default" in shown.stderr

    template = tmp_path / "prompt.j2"
    template.write_text("{{ business.name }} / {{ agent.name }} / {{ now.timezone }}")
    done = cli.invoke(app, ["prompt", "set-template", "bloom", str(template)])
    assert done.exit_code == 0, done.output
    shown = cli.invoke(app, ["prompt", "show", "asst_bloom"])
    assert shown.stdout.strip() == "Bloom Florists / Rosa / America/New_York"
    assert "template: tenant" in shown.stderr

    assert cli.invoke(app, ["prompt", "reset", "bloom"]).exit_code == 0
    assert cli.invoke(app, ["prompt", "show", "asst_bloom"]).stdout.startswith("You are Rosa")


def test_errors_are_one_line(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.j2"
    bad.write_text("{% for x in %}")
    result = cli.invoke(app, ["prompt", "set-template", "bloom", str(bad)])
    assert result.exit_code == 1
    assert "error: invalid prompt template" in result.stderr and "Traceback" not in result.output
    missing = cli.invoke(app, ["prompt", "show", "nope"])
    assert missing.exit_code == 1 and "not found" in missing.stderr
    unreadable = cli.invoke(app, ["prompt", "set-template", "bloom", str(tmp_path / "absent.j2")])
    assert unreadable.exit_code == 1 and "cannot read" in unreadable.stderr
