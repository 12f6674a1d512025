"""The pipeline end to end in process: ingest → queue → FAQ turn → outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from frontdesk.model.messages import InboundMessage
from frontdesk.security.tokens import SYSTEM
from frontdesk.store.tables import conversations, jobs, messages
from tests.helpers import outbound, setup_webchat, wait_for


async def test_message_is_answered_from_knowledge(runtime) -> None:
    ids = await setup_webchat(runtime)
    channel = await runtime.cache.channel(ids["channel_id"])
    got = await runtime.ingest.message(
        channel, InboundMessage("m1", "visitor-1", "what are your opening hours?")
    )
    replies = await wait_for(lambda: outbound(runtime, got.conversation_id))
    assert [r.text for r in replies] == ["We are open Monday to Friday, 9:00 to 17:00."]
    assert replies[0].status == "sent"
    assert replies[0].idempotency_key == f"{got.conversation_id}:{got.message_id}:0"


async def test_low_confidence_answers_fallback_and_flags_human(runtime) -> None:
    ids = await setup_webchat(
        runtime, config={"fallback_text": "A colleague will answer soon.", "confidence_threshold": 0.5}
    )
    channel = await runtime.cache.channel(ids["channel_id"])
    got = await runtime.ingest.message(channel, InboundMessage("m1", "v", "can you repair my tractor engine"))
    replies = await wait_for(lambda: outbound(runtime, got.conversation_id))
    assert [r.text for r in replies] == ["A colleague will answer soon."]
    async with runtime.db.read() as conn:
        conv = (
            await conn.execute(
                sa.select(conversations).where(conversations.c.conversation_id == got.conversation_id)
            )
        ).one()
    assert conv.needs_human is True
    assert "confidence below 0.50" in conv.needs_human_reason


async def test_duplicate_deliveries_stored_once_answered_once(runtime) -> None:
    ids = await setup_webchat(runtime)
    channel = await runtime.cache.channel(ids["channel_id"])
    msg = InboundMessage("same-provider-id", "v", "where are you located?")
    results = await asyncio.gather(*[runtime.ingest.message(channel, msg) for _ in range(20)])
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    conv_id = results[0].conversation_id
    await wait_for(lambda: outbound(runtime, conv_id))
    await asyncio.sleep(0.5)
    assert len(await outbound(runtime, conv_id)) == 1
    async with runtime.db.read() as conn:
        n_in = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(messages).where(messages.c.direction == "in")
            )
        ).scalar()
    assert n_in == 1


async def test_paused_agent_holds_then_resume_answers(runtime) -> None:
    ids = await setup_webchat(runtime)
    await runtime.config.update("agent", ids["agent_id"], {"status": "paused"}, principal=SYSTEM)
    channel = await runtime.cache.channel(ids["channel_id"])
    got = await runtime.ingest.message(channel, InboundMessage("m1", "v", "opening hours?"))
    await wait_for(lambda: _queue_empty(runtime))
    assert await outbound(runtime, got.conversation_id) == []
    await runtime.config.update("agent", ids["agent_id"], {"status": "active"}, principal=SYSTEM)
    replies = await wait_for(lambda: outbound(runtime, got.conversation_id))
    assert replies[0].text.startswith("We are open")


async def test_stopped_agent_sends_away_message(runtime) -> None:
    ids = await setup_webchat(runtime)
    await runtime.config.update(
        "tenant", "default", {"settings": {"away_message": "We are closed today."}}, principal=SYSTEM
    )
    await runtime.config.update("agent", ids["agent_id"], {"status": "stopped"}, principal=SYSTEM)
    channel = await runtime.cache.channel(ids["channel_id"])
    got = await runtime.ingest.message(channel, InboundMessage("m1", "v", "opening hours?"))
    replies = await wait_for(lambda: outbound(runtime, got.conversation_id))
    assert [r.text for r in replies] == ["We are closed today."]


async def _queue_empty(rt) -> bool:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar() == 0


async def test_burst_waiting_for_its_turn_is_answered_in_one_turn(database_url: str) -> None:
    from frontdesk.runtime import Runtime
    from tests.conftest import make_settings

    rt = Runtime(make_settings(database_url))
    await rt.start(workers=False)
    try:
        ids = await setup_webchat(rt)
        channel = await rt.cache.channel(ids["channel_id"])
        for i, text in enumerate(["where are you located?", "opening hours?", "how much is a package?"]):
            got = await rt.ingest.message(channel, InboundMessage(f"m{i}", "v", text))
        async with rt.db.read() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar() == 1
        await rt.workers.start()
        replies = await wait_for(lambda: _at_least(rt, got.conversation_id, 3))
        assert len({r.turn_id for r in replies}) == 1
        assert [r.text.split()[2] for r in replies] == ["at", "open", "start"]
    finally:
        await rt.stop()


async def _at_least(rt, conversation_id: str, n: int):  # type: ignore[no-untyped-def]
    rows = await outbound(rt, conversation_id)
    return rows if len(rows) >= n else None
