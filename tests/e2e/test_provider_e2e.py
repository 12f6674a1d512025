"""Providers end to end: a real ``frontdesk serve``, webhooks replayed by ``frontdesk replay``
(signed with the channel's secret from the same database), answers sent to a fake Graph API."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.support import REPO
from tests.fakes.meta_graph import FakeMetaGraph
from tests.providers import ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN

pytestmark = pytest.mark.e2e
FIXTURES = REPO / "tests" / "fixtures" / "providers" / "meta_whatsapp"


def _configure(server, api_base_url: str) -> None:  # type: ignore[no-untyped-def]
    h = {"Authorization": f"Bearer {server.admin_token}"}
    objects = [
        (
            "agents",
            {"agent_id": "faq", "agent_name": "FAQ", "config": {"fallback_text": "A person will reply."}},
        ),
        (
            "channels",
            {
                "channel_id": "wa",
                "channel_name": "WhatsApp",
                "channel_type": "whatsapp",
                "provider": "meta",
                "phone_number": "+15550001234",
                "routing_key": "777000111",
                "credentials": {
                    "access_token": ACCESS_TOKEN,
                    "app_secret": APP_SECRET,
                    "verify_token": VERIFY_TOKEN,
                },
                "settings": {"api_base_url": api_base_url},
            },
        ),
        ("mappings", {"agent_id": "faq", "channel_id": "wa", "is_primary": True}),
        ("knowledge", {"question": "Body Text", "answer": "Hello from the FAQ agent.", "tags": []}),
    ]
    for path, body in objects:
        r = httpx.post(f"{server.url}/api/v1/{path}", json=body, headers=h, timeout=10)
        assert r.status_code == 201, r.text


def test_replayed_fixtures_are_stored_once_and_answered(start_server) -> None:  # type: ignore[no-untyped-def]
    with FakeMetaGraph().running() as graph:
        server = start_server()
        _configure(server, graph.base_url)
        files = [str(FIXTURES / "inbound_text.json")]
        first = server.cli("replay", *files, "--server", server.url, "--channel", "wa", timeout=60)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "stored 1" in first.stdout and "Hello from the FAQ agent." in first.stdout
        again = server.cli("replay", *files, "--server", server.url, "--channel", "wa")
        assert again.returncode == 0 and "duplicate" in again.stdout
        deadline = time.monotonic() + 10
        while not graph.sent and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert len(graph.sent) == 1
        sent = graph.sent[0]
        assert sent.path == "/v21.0/777000111/messages" and sent.json["to"] == "972987654321"
        assert sent.json["text"]["body"] == "Hello from the FAQ agent."
        status = server.cli(
            "replay", str(FIXTURES / "status_read.json"), "--server", server.url, "--channel", "wa"
        )
        assert status.returncode == 0


def test_mock_mode_keeps_answers_in(start_server) -> None:  # type: ignore[no-untyped-def]
    with FakeMetaGraph().running() as graph:
        server = start_server(FRONTDESK_MOCK_PROVIDERS="true")
        _configure(server, graph.base_url)
        done = server.cli(
            "replay", str(FIXTURES / "inbound_text.json"), "--server", server.url, "--channel", "wa"
        )
        assert done.returncode == 0 and "stored 1" in done.stdout, done.stdout + done.stderr
        h = {"Authorization": f"Bearer {server.admin_token}"}
        deadline = time.monotonic() + 10
        items: list = []
        while not items and time.monotonic() < deadline:
            items = httpx.get(f"{server.url}/api/v1/mock/sends", headers=h).json()["items"]
            time.sleep(0.1)
        assert items and items[0]["text"] == "Hello from the FAQ agent." and items[0]["to"] == "+972987654321"
        assert graph.sent == []


def test_a_bad_file_is_one_clear_line(start_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    done = server.cli("replay", str(bad), "--server", server.url)
    assert (
        done.returncode == 1
        and "not valid JSON" in done.stdout
        and "Traceback" not in done.stdout + done.stderr
    )
