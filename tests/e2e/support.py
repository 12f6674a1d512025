"""End-to-end helpers: the real ``frontdesk serve`` as a subprocess on a free port, driven over HTTP.

Each server gets its own database (a SQLite file in the test's tmp dir, or a fresh PostgreSQL
database from tests/conftest.py's ``pg_database``), a throwaway Fernet key, and a log file that
collects its stdout and stderr. When a test fails, the tail of the log of every server that was
alive during it is attached to the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
FRONTDESK = str(Path(sys.executable).parent / "frontdesk")
LOG_TAIL_LINES = 300

# Ten distinct FAQ entries: message "code <word>" is answered with "reply <word>". Each word is a
# separate term, so every message of a conversation has its own, checkable reply (confidence 1.0,
# the runner-up stays under 0.3: see test_knowledge_base_matches_uniquely).
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett"]
KNOWLEDGE = [(f"code {w}", f"reply {w}") for w in WORDS]
FALLBACK = "E2E FALLBACK: a person will answer"


def question(i: int) -> str:
    return KNOWLEDGE[i][0]


def answer(i: int) -> str:
    return KNOWLEDGE[i][1]


ANSWER_FOR = dict(KNOWLEDGE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without any FRONTDESK_* knob, plus ``extra``.

    PYTHONPATH points at this working tree, so the subprocess runs the code under test even when
    the editable install in the venv is stale.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FRONTDESK, *args],
        env=env,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Server:
    """One ``frontdesk serve`` process (restartable on the same database); with ``role="worker"``,
    one ``frontdesk worker`` process (no HTTP, ``workers`` in-process workers)."""

    name: str
    database_url: str
    workdir: Path
    env: dict[str, str]
    workers: int = 4
    role: str = "serve"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    alive_since: float | None = None
    stopped_at: float | None = None
    admin_token: str = ""
    _log_handles: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.database_url.startswith("sqlite"):
            return None
        return Path(self.database_url.split(":///", 1)[1])

    def cli(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, cwd=self.workdir, input=input, timeout=timeout)

    def create_token(self, tenant: str | None = None) -> str:
        args = ["token", "create"] + (["--tenant", tenant] if tenant else [])
        done = self.cli(*args)
        assert done.returncode == 0, f"token create failed: {done.stdout}\n{done.stderr}"
        token = done.stdout.strip().splitlines()[-1].strip()
        assert token and " " not in token, done.stdout
        return token

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None, "already running"
        self.port = free_port() if self.role == "serve" else 0
        self.starts += 1
        log = self.log_path.open("ab")
        marker = f"\n===== start #{self.starts} on port {self.port} =====\n"
        log.write(marker.encode())
        log.flush()
        self._log_handles.append(log)
        if self.role == "serve":
            args = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
            env = self.env
        else:
            args, env = ["worker"], {**self.env, "FRONTDESK_WORKERS": str(self.workers)}
        self.proc = subprocess.Popen(
            [FRONTDESK, *args],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.alive_since, self.stopped_at = time.monotonic(), None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                self.stopped_at = time.monotonic()
                raise AssertionError(f"frontdesk {self.role} exited with {code} at start:\n{self.log_tail()}")
            if self._ready(marker):
                return
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"frontdesk {self.role} not ready within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _ready(self, marker: str) -> bool:
        if self.role == "worker":  # it says so once its workers run
            return "Ctrl-C" in self.log_text().rpartition(marker.strip())[2]
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + "/health", timeout=2).status_code == 200
        return False

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.stopped_at = time.monotonic()
        self._close_logs()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.stopped_at = time.monotonic()
        self._close_logs()

    def _close_logs(self) -> None:
        for handle in self._log_handles:
            with contextlib.suppress(Exception):
                handle.close()
        self._log_handles.clear()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the server's database directly (SQLite file or PostgreSQL)."""
        path = self.sqlite_path
        if path is not None:
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
                return conn.execute(sql, params).fetchall()
        import psycopg

        dsn = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()


SERVERS: list[Server] = []


def make_server(
    name: str, database_url: str, workdir: Path, workers: int = 4, role: str = "serve", **env: str
) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    knobs = {
        "FRONTDESK_DATABASE_URL": database_url,
        "FRONTDESK_SECRET_KEY": Fernet.generate_key().decode(),
        "FRONTDESK_POLL_INTERVAL_SECONDS": "0.2",
        "FRONTDESK_WEBCHAT_RATE_LIMIT": "100000/minute",
        "FRONTDESK_RETRY_BASE_SECONDS": "0.1",
        "FRONTDESK_RETRY_MAX_SECONDS": "1",
        "FRONTDESK_LOG_LEVEL": "INFO",
    }
    knobs.update(env)
    server = Server(name, database_url, workdir, clean_env(**knobs), workers=workers, role=role)
    SERVERS.append(server)
    return server


async def seed_webchat(
    client: httpx.AsyncClient,
    *,
    tenant_id: str = "e2e",
    prefix: str = "e2e",
    knowledge: list[tuple[str, str]] = KNOWLEDGE,
    agent: dict[str, Any] | None = None,
) -> str:
    """Through the REST API: a tenant with an FAQ agent on a web chat channel. Returns the channel id.

    ``agent`` replaces fields of the agent (e.g. ``{"kind": "remote", "config": {...}}``)."""

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await client.post(path, json=body)
        assert r.status_code == 201, f"POST {path}: {r.status_code} {r.text}"
        return r.json()

    if tenant_id != "default":
        await post("/api/v1/tenants", {"tenant_id": tenant_id, "name": f"{tenant_id} business"})
    agent_id, channel_id = f"{prefix}_faq", f"{prefix}-web"
    await post(
        "/api/v1/agents",
        {
            "agent_id": agent_id,
            "agent_name": "E2E FAQ",
            "tenant_id": tenant_id,
            "kind": "faq",
            "config": {"confidence_threshold": 0.6, "fallback_text": FALLBACK},
            **(agent or {}),
        },
    )
    await post(
        "/api/v1/channels",
        {
            "channel_id": channel_id,
            "channel_name": "E2E web chat",
            "channel_type": "webchat",
            "provider": "webchat",
            "tenant_id": tenant_id,
        },
    )
    await post(
        "/api/v1/mappings",
        {"agent_id": agent_id, "channel_id": channel_id, "tenant_id": tenant_id, "is_primary": True},
    )
    for q, a in knowledge:
        await post("/api/v1/knowledge", {"tenant_id": tenant_id, "question": q, "answer": a, "tags": []})
    return channel_id


def admin_client(server: Server, max_connections: int = 50, timeout: float = 30.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.admin_token}"},
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        timeout=timeout,
    )


async def new_session(client: httpx.AsyncClient, channel_id: str) -> str:
    r = await client.post(f"/webchat/{channel_id}/sessions")
    assert r.status_code == 201, r.text
    session = r.json()["session"]
    assert isinstance(session, str) and session
    return session


async def wait_quiet(client: httpx.AsyncClient, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until /health shows an empty queue and idle workers; return the last /health body."""
    deadline = asyncio.get_running_loop().time() + timeout
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        r = await client.get("/health")
        assert r.status_code == 200, r.text
        body = r.json()
        if (
            body["queue"].get("queued") == 0
            and body["queue"].get("running") == 0
            and body["workers"]["busy"] == 0
        ):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"queue not drained within {timeout}s: {body}")


async def conversation(client: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/conversations/{conversation_id}")
    assert r.status_code == 200, r.text
    return r.json()


def texts(conv: dict[str, Any], direction: str) -> list[str]:
    return [m["text"] for m in conv["messages"] if m["direction"] == direction]


class EventStream:
    """A web chat SSE stream read in the background: ``events`` fills as ``event: message`` arrive."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        channel_id: str,
        session: str,
        *,
        timeout: float = 30.0,
        last_event_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.path = f"/webchat/{channel_id}/stream"
        self.params = {"session": session, "timeout": str(timeout), **(params or {})}
        self.headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        self.events: list[dict[str, Any]] = []  # {"id", "event", "data" (parsed JSON)}
        self.status: int | None = None
        self.content_type = ""
        self.ended = asyncio.Event()
        self.opened = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.opened.wait(), 10)
        assert self.status == 200, f"stream answered {self.status}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        try:
            async with self.client.stream(
                "GET", self.path, params=self.params, headers=self.headers, timeout=None
            ) as resp:
                self.status = resp.status_code
                self.content_type = resp.headers.get("content-type", "")
                self.opened.set()
                if resp.status_code != 200:
                    return
                fields: dict[str, str] = {}
                async for line in resp.aiter_lines():
                    if line == "":
                        if "data" in fields:
                            self.events.append(
                                {
                                    "id": fields.get("id"),
                                    "event": fields.get("event", "message"),
                                    "data": _json(fields["data"]),
                                }
                            )
                            self._changed.set()
                        fields = {}
                        continue
                    if line.startswith(":"):
                        continue
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    fields[name] = fields[name] + "\n" + value if name in fields else value
        finally:
            self.opened.set()
            self.ended.set()
            self._changed.set()

    def texts(self) -> list[str]:
        return [e["data"]["text"] for e in self.events]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events arrived (or fail)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.events) < count:
            if self.ended.is_set():
                raise AssertionError(f"stream ended after {len(self.events)} events, wanted {count}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{len(self.events)} events within {timeout}s, wanted {count}: {self.texts()}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.events


def _json(raw: str) -> Any:
    import json

    return json.loads(raw)
