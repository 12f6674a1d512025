"""Per-conversation order under load (guarantee 4), on the real server: 200 web chat conversations
x 10 messages sent concurrently; every conversation's replies come back in the order of its messages.
Runs on SQLite and, when FRONTDESK_TEST_POSTGRES_URL is set, on a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from frontdesk.agents.knowledge import KnowledgeIndex
from tests.e2e.support import (
    KNOWLEDGE,
    WORDS,
    admin_client,
    answer,
    conversation,
    new_session,
    question,
    seed_webchat,
    wait_quiet,
)

pytestmark = pytest.mark.e2e

CONVERSATIONS = 200
MESSAGES = 10


def test_knowledge_base_matches_uniquely() -> None:
    """The precondition of the ordering tests: each "code <word>" has exactly one confident answer."""
    index = KnowledgeIndex(
        [{"id": str(i), "question": q, "answer": a, "tags": []} for i, (q, a) in enumerate(KNOWLEDGE)]
    )
    for i, word in enumerate(WORDS):
        best, runner_up = index.search(question(i), limit=2)
        assert (best.answer, best.confidence) == (f"reply {word}", 1.0)
        assert runner_up.confidence < 0.4  # well under the agent's threshold of 0.6


async def _talk(client: httpx.AsyncClient, channel_id: str, session: str, n: int, retries: list[str]) -> str:
    """Send one conversation's messages one after another (each after the previous 202).

    A request that dies in transit is sent again with the same client_message_id, as a browser
    would: the server must store it once (``duplicate`` tells whether the first try got through).
    """
    conversation_ids = set()
    for j in range(n):
        body = {"session": session, "text": question(j), "client_message_id": f"m{j}"}
        for attempt in range(3):
            try:
                r = await client.post(f"/webchat/{channel_id}/messages", json=body)
                break
            except httpx.TransportError as exc:
                retries.append(f"message {j}: {exc!r}")
                if attempt == 2:
                    raise
        assert r.status_code == 202, r.text
        assert r.json()["duplicate"] is False or attempt > 0
        conversation_ids.add(r.json()["conversation_id"])
    (conversation_id,) = conversation_ids
    return conversation_id


def check_order(conv: dict, n: int) -> list[str]:
    """Problems with one conversation's messages ([] if it is right)."""
    inbound = [m for m in conv["messages"] if m["direction"] == "in"]
    outbound = [m for m in conv["messages"] if m["direction"] == "out"]
    problems = []
    if [m["text"] for m in inbound] != [question(j) for j in range(n)]:
        problems.append(f"inbound {[m['text'] for m in inbound]}")
    if [m["text"] for m in outbound] != [answer(j) for j in range(n)]:
        problems.append(f"replies {[m['text'] for m in outbound]}")
    elif any(out["id"] < msg["id"] for msg, out in zip(inbound, outbound, strict=True)):
        problems.append("a reply was written before the message it answers")
    if any(m["status"] != "sent" for m in outbound):
        problems.append(f"statuses {[m['status'] for m in outbound]}")
    return problems


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_two_hundred_conversations_get_their_replies_in_order(
    backend: str, start_server, tmp_path, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/ordering.db"
        if backend == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    server = start_server(url, workers=8, name=f"ordering-{backend}")
    async with admin_client(server, max_connections=50, timeout=60) as client:
        channel_id = await seed_webchat(client)
        sessions = await asyncio.gather(*[new_session(client, channel_id) for _ in range(CONVERSATIONS)])
        assert len(set(sessions)) == CONVERSATIONS

        started = time.monotonic()
        retries: list[str] = []
        conversation_ids = await asyncio.gather(
            *[_talk(client, channel_id, s, MESSAGES, retries) for s in sessions]
        )
        sent = time.monotonic() - started
        assert len(set(conversation_ids)) == CONVERSATIONS

        pending = set(conversation_ids)
        problems: dict[str, list[str]] = {}
        deadline = time.monotonic() + 90
        limit = asyncio.Semaphore(40)

        async def check(conversation_id: str) -> None:
            async with limit:
                conv = await conversation(client, conversation_id)
            replies = sum(m["direction"] == "out" for m in conv["messages"])
            if replies < MESSAGES and time.monotonic() < deadline:
                return  # not finished yet
            pending.discard(conversation_id)
            found = check_order(conv, MESSAGES)
            if found:
                problems[conversation_id] = found

        while pending:
            await wait_quiet(client, timeout=max(1.0, deadline - time.monotonic()))
            await asyncio.gather(*[check(cid) for cid in list(pending)])
            if pending:
                await asyncio.sleep(0.5)
        answered = time.monotonic() - started

        assert not problems, f"{len(problems)} conversations wrong, e.g. {list(problems.items())[:3]}"
        health = (await client.get("/health")).json()
        assert health["queue"] == {"queued": 0, "running": 0, "failed": 0}
        assert health["workers"]["failed"] == 0
        print(
            f"{backend}: {CONVERSATIONS * MESSAGES} messages sent in {sent:.1f}s, "
            f"all answered in order after {answered:.1f}s; requests resent after a transport error: {retries}"
        )
    rows = server.query("SELECT count(*) FROM messages WHERE direction = 'in' AND turn_id IS NULL")
    assert rows == [(0,)]
    turns = server.query("SELECT count(DISTINCT turn_id) FROM messages WHERE direction = 'out'")[0][0]
    assert CONVERSATIONS <= turns <= CONVERSATIONS * MESSAGES
