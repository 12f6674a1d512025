"""Tenant-written router patterns cannot freeze the server: RE2, bounded text, refused syntax."""

from __future__ import annotations

import asyncio
import time

from frontdesk.security.tokens import SYSTEM
from tests.helpers import outbound, setup_webchat, wait_for

CATASTROPHIC = "re:(a+)+$"  # backtracks exponentially under Python's re


def _router(*keywords: str) -> dict:
    return {
        "agent_id": "front",
        "agent_name": "Front desk",
        "kind": "router",
        "config": {"routes": [{"agent_id": "t_faq", "keywords": list(keywords)}]},
    }


async def test_patterns_re2_cannot_run_are_refused_with_a_clear_422(client, runtime) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    for keyword, reason in [
        (r"re:(a)\1", "invalid escape sequence"),  # a backreference
        ("re:refund(?!ed)", "invalid perl operator"),  # a lookahead
        ("re:(.{100}){9}", "instructions, over 2000"),
        ("re:" + "x" * 301, "longer than 300 characters"),
    ]:
        r = await client.post("/api/v1/agents", json=_router(keyword))
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert "not a valid regular expression for this server" in error["message"], error
        assert reason in error["message"] and "Traceback" not in r.text
        assert error["details"][0]["field"] == "config.routes.0.keywords"
    r = await client.post("/api/v1/agents", json=_router(*[f"word{i}" for i in range(101)]))
    assert r.status_code == 422 and "at most 100" in r.json()["error"]["message"]
    assert (await client.get("/api/v1/agents/front")).status_code == 404


async def test_a_catastrophic_pattern_is_harmless_and_health_stays_responsive(client, runtime) -> None:  # type: ignore[no-untyped-def]
    ids = await setup_webchat(runtime)
    r = await client.post("/api/v1/agents", json=_router(CATASTROPHIC, "invoice"))
    assert r.status_code == 201, r.text
    await runtime.config.update(
        "mapping",
        (await client.get("/api/v1/mappings")).json()["items"][0]["mapping_id"],
        {"agent_id": "front"},
        principal=SYSTEM,
    )
    channel = ids["channel_id"]
    session = (await client.post(f"/webchat/{channel}/sessions")).json()["session"]
    started = time.perf_counter()
    r = await client.post(f"/webchat/{channel}/messages", json={"session": session, "text": "a" * 4095 + "!"})
    assert r.status_code == 202, r.text
    conversation_id = r.json()["conversation_id"]

    slowest = 0.0

    async def answered() -> bool:
        nonlocal slowest
        t = time.perf_counter()
        assert (await client.get("/health", headers={"Authorization": ""})).status_code == 200
        slowest = max(slowest, time.perf_counter() - t)
        return bool(await outbound(runtime, conversation_id))

    await wait_for(answered, timeout=10, interval=0.02)
    assert time.perf_counter() - started < 5
    # /health answered all along: nothing held the event loop (Python's re holds it for good here).
    assert slowest < 1.0, slowest
    await asyncio.sleep(0)
