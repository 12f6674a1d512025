"""A runtime's app served over real HTTP on 127.0.0.1 (uvicorn in the test's event loop), and an
SSE reader that keeps every line: httpx's ASGITransport would buffer a stream to its end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx


@contextlib.asynccontextmanager
async def serve_http(rt: Any) -> AsyncIterator[str]:  # rt: a started Runtime
    """Serve ``create_app(runtime=rt)`` as ``frontdesk serve`` does (uvicorn, proxy headers trusted
    from 127.0.0.1); yield its base URL."""
    import uvicorn

    from frontdesk.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(runtime=rt), log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class SseReader:
    """GET a stream in the background; ``lines`` gets every line, ``events`` the parsed messages."""

    def __init__(self, client: httpx.AsyncClient, path: str, **kwargs: Any) -> None:
        self.client, self.path, self.kwargs = client, path, kwargs
        self.status: int | None = None
        self.body = b""
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.opened = asyncio.Event()
        self.ended = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> SseReader:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.opened.wait(), 10)
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
            async with self.client.stream("GET", self.path, timeout=None, **self.kwargs) as resp:
                self.status = resp.status_code
                if resp.status_code != 200:
                    self.body = await resp.aread()
                    return
                self.opened.set()
                data: list[str] = []
                async for line in resp.aiter_lines():
                    self.lines.append(line)
                    if line.startswith("data:"):
                        data.append(line.removeprefix("data:").strip())
                    elif line == "" and data:
                        self.events.append(json.loads("\n".join(data)))
                        data = []
        finally:
            self.opened.set()
            self.ended.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                if self.ended.is_set():
                    raise AssertionError(f"stream ended after {len(self.events)} events: {self.lines}")
                await asyncio.sleep(0.02)
        return self.events
