"""A fake OpenAI-compatible Chat Completions server on 127.0.0.1, for real-HTTP tests of llm agents.

Replies are scripted: a queue of responses (``push``), or a function of the request (``handler``).
Each is built with ``answer`` (the agent's ``final_answer`` tool call), ``tool_call`` or ``text``,
and comes back in the real response shape (``choices[0].message`` with ``tool_calls``, ``usage``).
Failures and latency are switchable: ``fail("500" | "garbage" | "timeout")`` for the next requests,
``latency`` seconds before every answer. Every request body is kept in ``requests``.

    fake = FakeOpenAI()
    fake.push(fake.tool_call("search_knowledge", query="hours"), fake.answer("We open at 9.", 0.9))
    with fake.serve() as base_url:          # e.g. http://127.0.0.1:53211/v1
        ...
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import run_app

Spec = dict[str, Any]  # {"content": str | None, "tool_calls": [(name, args)]}
FINAL_ANSWER = "final_answer"


class FakeOpenAI:
    def __init__(self, *, latency: float = 0.0) -> None:
        self.script: deque[Spec] = deque()
        self.handler: Callable[[dict[str, Any]], Spec] | None = None
        self.failures: deque[str] = deque()
        self.latency = latency
        self.hang_seconds = 30.0
        self.base_url = ""  # set while serving
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.urls: list[str] = []  # path and query of each request
        self.errors: list[str] = []  # what a ``handler`` raised
        self._ids = itertools.count(1)

    # -- scripting ---------------------------------------------------------------------------------

    @staticmethod
    def answer(text: str, confidence: float = 0.9, needs_human: bool = False, reason: str = "") -> Spec:
        args = {"text": text, "confidence": confidence, "needs_human": needs_human, "reason": reason}
        return {"content": None, "tool_calls": [(FINAL_ANSWER, args)]}

    @staticmethod
    def tool_call(tool: str, /, **args: Any) -> Spec:
        return {"content": None, "tool_calls": [(tool, args)]}

    @staticmethod
    def text(content: str) -> Spec:
        return {"content": content, "tool_calls": []}

    def push(self, *specs: Spec) -> None:
        self.script.extend(specs)

    def fail(self, kind: str, times: int = 1) -> None:
        """The next ``times`` requests fail: "500", "429" (Retry-After: 0), "400" (a request the
        endpoint rejects), "garbage" (200, a body that is not JSON), "timeout"."""
        assert kind in ("500", "429", "400", "garbage", "timeout"), kind
        self.failures.extend([kind] * times)

    # -- what was asked ----------------------------------------------------------------------------

    def system_prompt(self, index: int = -1) -> str:
        """The system (or developer) message of request ``index``."""
        for message in self.requests[index]["messages"]:
            if message["role"] in ("system", "developer"):
                return message["content"] if isinstance(message["content"], str) else json.dumps(message)
        return ""

    def tool_names(self, index: int = -1) -> list[str]:
        return [t["function"]["name"] for t in self.requests[index].get("tools", [])]

    # -- serving -----------------------------------------------------------------------------------

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve while the block runs; yields the base URL to configure (ending in ``/v1``)."""
        with run_app(self.app()) as url:
            self.base_url = f"{url}/v1"
            try:
                yield self.base_url
            finally:
                self.base_url = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                # Azure OpenAI: /openai/deployments/{deployment}/chat/completions?api-version=…
                Route(
                    "/openai/deployments/{deployment}/chat/completions", self._completions, methods=["POST"]
                ),
            ]
        )

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.urls.append(f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path)
        if self.latency:
            await asyncio.sleep(self.latency)
        failure = self.failures.popleft() if self.failures else None
        if failure == "500":
            return JSONResponse({"error": {"message": "fake: internal error", "type": "server_error"}}, 500)
        if failure == "429":
            error = {"error": {"message": "fake: rate limited", "type": "rate_limit_exceeded"}}
            return JSONResponse(error, 429, headers={"retry-after": "0"})
        if failure == "400":
            error = {"error": {"message": "fake: invalid request", "type": "invalid_request_error"}}
            return JSONResponse(error, 400)
        if failure == "garbage":
            return Response(b"<html>this is not JSON{", 200, media_type="application/json")
        if failure == "timeout":
            # Hang until the client gives up (or hang_seconds pass), then answer too late.
            deadline = time.monotonic() + self.hang_seconds
            while time.monotonic() < deadline and not await request.is_disconnected():
                await asyncio.sleep(0.05)
            # Too late either way; leave the script for the next request.
            return JSONResponse({"error": {"message": "fake: too late"}}, 504)
        if self.handler is not None:
            try:
                spec = self.handler(body)
            except Exception as exc:  # a test's script that broke: show it, as the model's failure
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return JSONResponse({"error": {"message": f"fake: handler failed: {exc!r}"}}, 500)
        elif self.script:
            spec = self.script.popleft()
        else:
            return JSONResponse({"error": {"message": "fake: no scripted response left"}}, 500)
        return JSONResponse(self.completion(body, spec))

    def completion(self, body: dict[str, Any], spec: Spec) -> dict[str, Any]:
        calls = [
            {
                "id": f"call_{next(self._ids)}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for name, args in spec.get("tool_calls") or []
        ]
        message: dict[str, Any] = {"role": "assistant", "content": spec.get("content")}
        if calls:
            message["tool_calls"] = calls
        prompt_tokens = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
