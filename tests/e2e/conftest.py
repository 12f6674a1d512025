"""End-to-end fixtures and hooks; the helpers themselves live in ``tests/e2e/support.py``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.support import LOG_TAIL_LINES, SERVERS, Server, make_server

_STARTED = pytest.StashKey[float]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_STARTED] = time.monotonic()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    began = item.stash.get(_STARTED, 0.0)
    for server in SERVERS:
        if server.alive_since is None or (server.stopped_at is not None and server.stopped_at < began):
            continue
        report.sections.append(
            (f"frontdesk serve log: {server.name} (last {LOG_TAIL_LINES} lines)", server.log_tail())
        )


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a server (admin token created first, through the CLI): ``start_server(db_url, **env)``."""
    started: list[Server] = []

    def start(database_url: str | None = None, *, workers: int = 4, name: str = "", **env: str) -> Server:
        name = name or f"server{len(started) + 1}"
        url = database_url or f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
        server = make_server(name, url, tmp_path, workers, **env)
        started.append(server)
        server.admin_token = server.create_token()  # also creates and migrates the database
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
