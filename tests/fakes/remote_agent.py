"""A fake remote agent endpoint on 127.0.0.1 that answers turns, and holds them when told to.

It speaks the remote agent contract (docs/remote-agents.md): a turn comes in as JSON, the answer
is ``{"replies": [...]}`` with one reply per new message, ``answer(text)`` each. After ``hold()``
every turn waits, the ones waiting already and every later one, until ``release()``: its caller
sees a slow agent, not an error, so a test can be sure turns are unfinished at a moment of its
choosing. ``held`` counts the turns waiting right now, ``received`` every turn that arrived.
Signatures are not checked (the remote agent's own tests do that).

    agent = FakeRemoteAgent(answer=ANSWER_FOR.__getitem__)
    with agent.running() as url:  # the agent's config: {"url": url, "timeout_s": 60}
        agent.hold()
        ...  # turns are waiting on the agent
        agent.release()
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import run_app

POLL_SECONDS = 0.01  # how often a held turn looks whether it may go (the server has its own loop)


class FakeRemoteAgent:
    def __init__(self, answer: Callable[[str], str]) -> None:
        self.answer = answer
        self.received = 0
        self.held = 0
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()

    def hold(self) -> None:
        """Keep every turn waiting, the ones waiting now and every later one, until ``release()``."""
        self._released.clear()

    def release(self) -> None:
        """Answer every held turn, and every later one, at once."""
        self._released.set()

    async def _turn(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        with self._lock:
            self.received += 1
        if not self._released.is_set():
            with self._lock:
                self.held += 1
            try:
                while not self._released.is_set():
                    await asyncio.sleep(POLL_SECONDS)
            finally:
                with self._lock:
                    self.held -= 1
        return JSONResponse({"replies": [self.answer(m["text"]) for m in body["messages"]]})

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve while the block runs; yield the turn endpoint's URL."""
        app = Starlette(routes=[Route("/turn", self._turn, methods=["POST"])])
        with run_app(app) as base_url:
            try:
                yield f"{base_url}/turn"
            finally:
                self.release()  # no handler left waiting when the server stops
