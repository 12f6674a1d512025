"""The load generator's HTTP clients: a minimal HTTP/1.1 client on asyncio streams, and httpx.

Both offer the same two things: a keep-alive ``Connection`` that sends one request at a time with a
JSON body, and an ``SseStream`` that calls back for every Server-Sent Event.

The raw client exists because httpx is the bottleneck: on the 2-core machine the benchmark was
written on, httpx drove the bare Starlette baseline at 300-900 requests/s (and got slower with more
concurrent requests), the raw client at 15,000-21,000 with the server's core saturated (try
``--no-sqlite --no-postgres --client httpx``). The raw client does only what the benchmark needs:
Content-Length and chunked responses, keep-alive, reconnecting when the server has closed an idle
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Protocol

# Called with (event name, data) for every event that has data.
OnEvent = Callable[[str, str], None]


class HttpError(Exception):
    pass


class Connection(Protocol):
    async def request(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class SseStream(Protocol):
    connected: asyncio.Event
    task: asyncio.Task | None

    async def aclose(self) -> None: ...


class Client(Protocol):
    name: str

    def connection(self) -> Connection: ...

    def sse(self, path: str, on_event: OnEvent) -> SseStream: ...

    async def aclose(self) -> None: ...


def _parse_sse(buffer: bytearray, on_event: OnEvent) -> None:
    """Dispatch the complete events at the start of ``buffer`` and remove them from it."""
    while True:
        end = buffer.find(b"\n\n")
        if end < 0:
            return
        block = bytes(buffer[:end]).decode()
        del buffer[: end + 2]
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue  # comment (keepalive)
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        if data:
            on_event(event, "\n".join(data))


# --------------------------------------------------------------------------------------------- raw


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body (b"" for the last one)."""
    size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
    data = await reader.readexactly(size) if size else b""
    await reader.readexactly(2)  # the CRLF after the chunk
    return data


class RawConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._host_header = f"Host: {host}:{port}\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        await self.aclose()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._host_header}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        return await self.send(head.encode() + b"\r\n" + payload)

    async def send(self, data: bytes) -> tuple[int, bytes]:
        """Send a request already encoded (request line, headers and body); answer (status, body).

        The server closes keep-alive connections idle for 5 s: when the close has been seen (EOF),
        reconnect first; when it raced with this request, reconnect and send again. The benchmarks'
        messages carry a client_message_id or a unique provider message id, so a message sent twice
        is stored once.
        """
        reused = self._reader is not None and not self._reader.at_eof()
        if not reused:
            await self._connect()
        try:
            return await self._exchange(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
            await self._connect()
            return await self._exchange(data)

    async def _exchange(self, data: bytes) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(data)
        status, headers = await _read_head(self._reader)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while chunk := await _read_chunk(self._reader):
                parts.append(chunk)
            await self._reader.readuntil(b"\r\n")  # (no trailers) the blank line ending the body
            content = b"".join(parts)
        else:
            content = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return status, content

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class RawSse:
    def __init__(self, host: str, port: int, path: str, on_event: OnEvent) -> None:
        self.connected = asyncio.Event()
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self._host, self._port = host, port
        self._on_event = on_event
        self._writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = asyncio.create_task(self._run())

    async def _run(self) -> None:
        reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._writer.write(self._request)
        status, headers = await _read_head(reader)
        if status != 200:
            raise HttpError(f"SSE stream answered {status}")
        self.connected.set()
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        buffer = bytearray()
        while True:
            data = await _read_chunk(reader) if chunked else await reader.read(65536)
            if not data:
                return  # the server ended the stream
            buffer += data
            _parse_sse(buffer, self._on_event)

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self._writer is not None:
            self._writer.close()


class RawClient:
    name = "raw"

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").rstrip("/").partition(":")
        self.host, self.port = host, int(port)

    def connection(self) -> RawConnection:
        return RawConnection(self.host, self.port)

    def sse(self, path: str, on_event: OnEvent) -> RawSse:
        return RawSse(self.host, self.port, path, on_event)

    async def aclose(self) -> None:
        pass


# ------------------------------------------------------------------------------------------- httpx


class HttpxConnection:
    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self._client = client

    async def request(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
        import httpx

        try:
            response = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise HttpError(str(exc)) from exc
        return response.status_code, response.content

    async def aclose(self) -> None:
        pass


class HttpxSse:
    def __init__(self, client, path: str, on_event: OnEvent) -> None:  # type: ignore[no-untyped-def]
        self.connected = asyncio.Event()
        self._client, self._path, self._on_event = client, path, on_event
        self.task: asyncio.Task | None = asyncio.create_task(self._run())

    async def _run(self) -> None:
        headers = {"Accept": "text/event-stream"}
        async with self._client.stream("GET", self._path, headers=headers, timeout=None) as response:
            if response.status_code != 200:
                raise HttpError(f"SSE stream answered {response.status_code}")
            self.connected.set()
            buffer = bytearray()
            async for data in response.aiter_raw():
                buffer += data
                _parse_sse(buffer, self._on_event)

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


class HttpxClient:
    name = "httpx"

    def __init__(self, base_url: str) -> None:
        import httpx

        # No pool limit: every conversation holds a stream and a posting connection.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        self._client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0)

    def connection(self) -> HttpxConnection:
        return HttpxConnection(self._client)

    def sse(self, path: str, on_event: OnEvent) -> HttpxSse:
        return HttpxSse(self._client, path, on_event)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_client(kind: str, base_url: str) -> Client:
    return HttpxClient(base_url) if kind == "httpx" else RawClient(base_url)
