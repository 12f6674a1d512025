"""Nothing lost, nothing twice (guarantees 1, 5, 6): the server is killed with SIGKILL in the middle of
a burst of web chat messages and restarted on the same database. Every message that got its 202 is
answered exactly once, in order, and nothing is left pending; messages whose request died with the
server may or may not be stored, but if stored they are answered too, and a client resending them
with the same client_message_id gets them stored once.

The kill always meets unfinished work: the business's agent (a remote agent on 127.0.0.1,
tests/fakes/remote_agent.py) answers each conversation's first message, then holds every turn of
the burst until the server is dead. So at the kill, replies have gone out and turns are running
with their messages unanswered, and none of them can finish between the last look and the signal.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict

import httpx
import pytest

from tests.e2e.support import (
    ANSWER_FOR,
    FALLBACK,
    Server,
    admin_client,
    new_session,
    question,
    seed_webchat,
    wait_quiet,
)
from tests.fakes.remote_agent import FakeRemoteAgent

pytestmark = pytest.mark.e2e

CONVERSATIONS = 50
MESSAGES = 6
KILL_AFTER = 120  # of 300: SIGKILL once this many messages were accepted


def stored_messages(server: Server) -> tuple[dict[str, list[tuple]], dict[str, list[tuple]]]:
    """Inbound and outbound rows per conversation, in id order, read from the database itself."""
    inbound: dict[str, list[tuple]] = defaultdict(list)
    outbound: dict[str, list[tuple]] = defaultdict(list)
    rows = server.query(
        "SELECT conversation_id, id, direction, text, turn_id, status, idempotency_key, provider_message_id "
        "FROM messages ORDER BY id"
    )
    for conversation_id, id_, direction, text, turn_id, status, key, provider_id in rows:
        target = inbound if direction == "in" else outbound
        target[conversation_id].append((id_, text, turn_id, status, key, provider_id))
    return inbound, outbound


def check_exactly_once(server: Server) -> tuple[int, int]:
    """Every stored inbound message answered by exactly one reply, in order; nothing pending."""
    inbound, outbound = stored_messages(server)
    problems = []
    for conversation_id in set(inbound) | set(outbound):
        ins, outs = inbound.get(conversation_id, []), outbound.get(conversation_id, [])
        expected = [ANSWER_FOR[row[1]] for row in ins]
        got = [row[1] for row in outs]
        if got != expected:
            problems.append(f"{conversation_id}: messages {[r[1] for r in ins]} got replies {got}")
        if any(row[2] is None for row in ins):
            problems.append(f"{conversation_id}: unanswered inbound {[r[0] for r in ins if r[2] is None]}")
        if any(row[3] != "sent" for row in outs):
            problems.append(f"{conversation_id}: reply statuses {[r[3] for r in outs]}")
        if len({row[4] for row in outs}) != len(outs):
            problems.append(f"{conversation_id}: repeated idempotency keys")
    assert not problems, f"{len(problems)} problems, e.g.: " + "\n".join(problems[:5])
    assert server.query("SELECT status, count(*) FROM jobs GROUP BY status") == []
    flagged = server.query("SELECT conversation_id, needs_human_reason FROM conversations WHERE needs_human")
    assert flagged == []
    return sum(map(len, inbound.values())), sum(map(len, outbound.values()))


async def _wait_replies(server: Server, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'"
    while (sent := server.query(query)[0][0]) < n:
        assert time.monotonic() < deadline, f"{sent} replies sent within {timeout}s, wanted {n}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_sigkill_mid_burst_then_restart_answers_every_accepted_message_once(
    backend: str, start_server, tmp_path, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/crash.db"
        if backend == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    agent = FakeRemoteAgent(answer=ANSWER_FOR.__getitem__)
    with agent.running() as agent_url:
        server = start_server(
            url,
            name=f"crash-{backend}",
            FRONTDESK_JOB_LEASE_SECONDS="2",
            FRONTDESK_HTTP_ACTIONS_ALLOW="127.0.0.1",  # the agent listens on 127.0.0.1
        )
        await _crash_and_recover(server, backend, agent, agent_url)
    # A graceful stop: uvicorn exits 0 or re-raises the SIGTERM it handled; -9 would mean it hung.
    assert server.stop() in (0, -signal.SIGTERM)


async def _crash_and_recover(server: Server, backend: str, agent: FakeRemoteAgent, agent_url: str) -> None:
    remote = {"url": agent_url, "timeout_s": 60, "retries": 0, "fallback_text": FALLBACK}
    async with admin_client(server) as client:
        channel_id = await seed_webchat(client, agent={"kind": "remote", "config": remote})
        sessions = await asyncio.gather(*[new_session(client, channel_id) for _ in range(CONVERSATIONS)])

    accepted: dict[tuple[int, int], dict] = {}  # (conversation, message) → the 202 body
    first_unaccepted = {c: MESSAGES for c in range(CONVERSATIONS)}
    killed_at: list[float] = []

    async def post(client: httpx.AsyncClient, c: int, j: int) -> httpx.Response:
        return await client.post(
            f"/webchat/{channel_id}/messages",
            json={"session": sessions[c], "text": question(j), "client_message_id": f"m{j}"},
        )

    async def first(client: httpx.AsyncClient, c: int) -> None:
        r = await post(client, c, 0)
        assert r.status_code == 202, r.text
        accepted[(c, 0)] = r.json()

    async def talk(client: httpx.AsyncClient, c: int) -> None:
        for j in range(1, MESSAGES):
            try:
                r = await post(client, c, j)
            except httpx.TransportError:
                first_unaccepted[c] = j
                return
            if r.status_code != 202:
                assert killed_at, f"refused before the crash: {r.status_code} {r.text}"
                first_unaccepted[c] = j
                return
            accepted[(c, j)] = r.json()
            if len(accepted) >= KILL_AFTER and not killed_at and agent.held:
                server.kill()
                killed_at.append(time.monotonic())

    async with admin_client(server, max_connections=50, timeout=30) as client:
        # Every conversation's first message, answered before the burst: replies the crash must
        # not send again.
        await asyncio.gather(*[first(client, c) for c in range(CONVERSATIONS)])
        await _wait_replies(server, CONVERSATIONS)
        agent.hold()
        await asyncio.gather(*[talk(client, c) for c in range(CONVERSATIONS)])
    assert killed_at, "the burst finished before the server was killed"
    assert KILL_AFTER <= len(accepted) < CONVERSATIONS * MESSAGES

    # What the kill met, read from the database it left: the first replies sent, and turns running
    # with their messages unanswered (held by the agent, they could not finish before the signal).
    unanswered = server.query("SELECT count(*) FROM messages WHERE direction = 'in' AND turn_id IS NULL")[0][
        0
    ]
    jobs_at_crash = dict(server.query("SELECT status, count(*) FROM jobs GROUP BY status"))
    replies_at_crash = dict(
        server.query("SELECT status, count(*) FROM messages WHERE direction = 'out' GROUP BY status")
    )
    stored_at_crash = server.query("SELECT count(*) FROM messages WHERE direction = 'in'")[0][0]
    assert replies_at_crash == {"sent": CONVERSATIONS}, replies_at_crash
    assert unanswered == stored_at_crash - CONVERSATIONS > 0, (unanswered, stored_at_crash)
    assert jobs_at_crash.get("running", 0) > 0, jobs_at_crash
    held_at_crash = agent.held
    assert held_at_crash > 0
    agent.release()

    server.start()
    restarted = time.monotonic()
    async with admin_client(server) as client:
        await wait_quiet(client, timeout=60)
        recovered = time.monotonic() - restarted
        stored_in, stored_out = check_exactly_once(server)
        inbound, _ = stored_messages(server)
        # Every accepted message is stored (ack after durable write) under the id its 202 gave.
        stored_ids = {row[0] for rows in inbound.values() for row in rows}
        missing = [key for key, body in accepted.items() if body["id"] not in stored_ids]
        assert not missing, f"accepted but not stored: {missing[:10]}"
        assert len({body["id"] for body in accepted.values()}) == len(accepted)
        print(
            f"{backend}: killed after {len(accepted)} accepted; at the crash {unanswered} unanswered, "
            f"jobs {jobs_at_crash}, {held_at_crash} turns waiting on the agent; recovered in "
            f"{recovered:.1f}s; {stored_in} stored, {stored_out} replies"
        )

        # A client resends what got no 202, with the same client message ids: stored once, answered once.
        async def resend(c: int) -> None:
            for j in range(first_unaccepted[c], MESSAGES):
                r = await post(client, c, j)
                assert r.status_code == 202, r.text

        await asyncio.gather(*[resend(c) for c in range(CONVERSATIONS)])
        await wait_quiet(client, timeout=60)
        total_in, total_out = check_exactly_once(server)
        assert (total_in, total_out) == (CONVERSATIONS * MESSAGES, CONVERSATIONS * MESSAGES)
        health = (await client.get("/health")).json()
        assert health["queue"] == {"queued": 0, "running": 0, "failed": 0}
