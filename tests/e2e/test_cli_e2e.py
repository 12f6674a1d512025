"""The ``frontdesk`` command as a user runs it: help everywhere, the demo, a terminal chat through
stdin, and errors as one clear line with a non-zero exit (never a traceback)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.support import REPO, clean_env, make_server, run_cli

pytestmark = pytest.mark.e2e

DEMO = yaml.safe_load((REPO / "frontdesk" / "demo" / "demo.yaml").read_text())
DEMO_ANSWERS = {entry["id"]: entry["answer"] for entry in DEMO["knowledge"]}
COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["chat"],
    ["demo"],
    ["init"],
    ["db"],
    ["db", "upgrade"],
    ["token"],
    ["token", "create"],
    ["config"],
    ["config", "export"],
    ["config", "import"],
    ["config", "validate"],
    ["knowledge"],
    ["knowledge", "import"],
]


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No FRONTDESK_* from outside; a database in tmp_path; an 80-column console (as in a pipe)."""
    knobs = {"FRONTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db", "COLUMNS": "80"}
    return clean_env(**{**knobs, **extra})


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line on stderr and no traceback."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{done.stderr}"
    assert lines[0].startswith("error:"), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``frontdesk demo --no-serve`` into a fresh file (no FRONTDESK_SECRET_KEY: the key file is made)."""
    workdir = tmp_path_factory.mktemp("demo")
    database = workdir / "demo.db"
    done = run_cli("demo", "--no-serve", "--database", str(database), env=env(workdir), cwd=workdir)
    return database, done


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "frontdesk")
def test_help_of_every_command(command: list[str], tmp_path: Path) -> None:
    done = run_cli(*command, "--help", env=env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Usage: frontdesk" in done.stdout
    assert done.stderr == ""
    assert not (tmp_path / "cli.db").exists(), "--help must not create a database"
    if not command:
        for name in ("serve", "worker", "chat", "demo", "init", "db", "token", "config", "knowledge"):
            assert re.search(rf"│ {name}\s", done.stdout), name


def test_demo_prints_three_web_chats_and_a_working_token(demo) -> None:  # type: ignore[no-untyped-def]
    database, done = demo
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    urls = re.findall(r"http://127\.0\.0\.1:8000/webchat/([\w-]+)\s*$", done.stdout, re.MULTILINE)
    webchats = [c["channel_id"] for c in DEMO["channels"] if c["provider"] == "webchat"]
    assert urls == webchats and len(urls) == 3
    (token,) = re.findall(r"Admin API token: (\S+)\s*$", done.stdout, re.MULTILINE)
    assert database.exists() and Path(f"{database}.secret").exists()

    # The printed token and URLs work against `frontdesk serve` on the demo database.
    server = make_server("demo", f"sqlite+aiosqlite:///{database}", database.parent, FRONTDESK_SECRET_KEY="")
    server.start()
    try:
        auth = {"Authorization": f"Bearer {token}"}
        agents = httpx.get(f"{server.url}/api/v1/agents", headers=auth, timeout=10)
        assert agents.status_code == 200, agents.text
        assert {a["agent_id"] for a in agents.json()["items"]} == {
            "asst_wedding_001",
            "asst_telco_001",
            "asst_general_001",
        }
        for channel_id in urls:
            page = httpx.get(f"{server.url}/webchat/{channel_id}", timeout=10)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        routed = httpx.post(
            f"{server.url}/route/message",
            headers=auth,
            json={"from": "+15550100100", "to": "+1234567890", "message": "What are your opening hours?"},
            timeout=30,
        )
        assert routed.status_code == 200, routed.text
        assert routed.json()["agent_id"] == "asst_wedding_001"
        assert routed.json()["replies"] == [DEMO_ANSWERS["wed-hours"]]
        assert httpx.get(f"{server.url}/api/v1/agents", timeout=10).status_code == 401
    finally:
        server.stop()


def test_chat_through_stdin_prints_the_agents_replies(demo) -> None:  # type: ignore[no-untyped-def]
    database, _ = demo
    done = run_cli(
        "chat",
        "--to",
        "+1234567890",
        input="hello\nwhat are your opening hours?\n\n",
        env=env(database.parent, FRONTDESK_DATABASE_URL=f"sqlite+aiosqlite:///{database}"),
        cwd=database.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = " ".join(done.stdout.split())  # the console wraps long replies
    assert "asst_wedding_001" in out
    hello, hours = DEMO_ANSWERS["wed-hello"], DEMO_ANSWERS["wed-hours"]
    assert hello in out and hours in out
    assert out.index(hello) < out.index(hours)
    assert out.count("Wedding Planner>") == 2


def test_chat_with_unknown_number_is_one_clear_error(demo) -> None:  # type: ignore[no-untyped-def]
    database, _ = demo
    chat_env = env(database.parent, FRONTDESK_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    done = run_cli("chat", "--to", "+19998887777", input="hello\n", env=chat_env, cwd=database.parent)
    line = one_line_error(done)
    assert "No agent found for phone number +19998887777" in line


def test_chat_with_invalid_number_is_one_clear_error(demo) -> None:  # type: ignore[no-untyped-def]
    database, _ = demo
    chat_env = env(database.parent, FRONTDESK_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    done = run_cli("chat", "--to", "not-a-number", input="hello\n", env=chat_env, cwd=database.parent)
    assert one_line_error(done) == (
        "error: Phone number 'not-a-number' must start with '+' and the country code, "
        "in E.164 form like +14155550123"
    )


def test_token_create_for_unknown_tenant_fails_clearly(tmp_path: Path) -> None:
    done = run_cli("token", "create", "--tenant", "nope", env=env(tmp_path), cwd=tmp_path)
    assert done.returncode == 1
    assert "nope" in one_line_error(done)
    assert done.stdout.strip() == ""
    # For an existing tenant (and for the platform admin) a token is printed.
    ok = run_cli("token", "create", "--tenant", "default", env=env(tmp_path), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert re.fullmatch(r"\S{20,}", ok.stdout.strip().splitlines()[-1])
