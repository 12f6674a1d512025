"""The turn and the outbox on the public fakes: a scripted agent, a fake provider, the in-memory queue.

No database server and no HTTP: the runtime runs on an SQLite file with its workers off, and each
test drives one job through ``pipeline.turn.process`` by hand, so what happens is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from frontdesk.errors import PermanentDelivery, RetryableDelivery
from frontdesk.model.messages import AgentReply, InboundMessage
from frontdesk.pipeline.ingest import Ingest
from frontdesk.pipeline.turn import process
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import SYSTEM
from frontdesk.store.tables import conversations, messages
from frontdesk.testing import FakeAdapter, MemoryQueue, ScriptedAgent, ScriptedAgents
from tests.conftest import make_settings

CUSTOMER = "+15557654321"


class Rig:
    def __init__(self, rt: Runtime, adapter: FakeAdapter, agent: ScriptedAgent, queue: MemoryQueue) -> None:
        self.rt, self.adapter, self.agent, self.queue = rt, adapter, agent, queue

    async def inbound(self, provider_id: str, text: str) -> str:
        channel = await self.rt.cache.channel("sms")
        assert channel is not None
        got = await self.rt.ingest.message(channel, InboundMessage(provider_id, CUSTOMER, text))
        return got.conversation_id

    async def run_due_jobs(self) -> int:
        jobs = await self.queue.claim("w1", 10)
        for job in jobs:
            await process(self.rt, job, "w1")
        return len(jobs)

    async def outbound(self) -> list[sa.Row]:
        async with self.rt.db.read() as conn:
            query = sa.select(messages).where(messages.c.direction == "out").order_by(messages.c.id)
            return list((await conn.execute(query)).all())


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    # A 1 ms backoff: a retried send is due again at once (what is tested is that it is retried).
    url = f"sqlite+aiosqlite:///{tmp_path / 'fd.db'}"
    settings = make_settings(url, run_workers=False, retry_base_seconds=0.001, retry_max_seconds=0.001)
    rt = Runtime(settings)
    queue, agent, adapter = MemoryQueue(), ScriptedAgent([]), FakeAdapter("twilio")
    rt.queue = queue
    rt.ingest = Ingest(rt.store.inbound, queue, rt.notifier)
    rt.agents = ScriptedAgents(agent)  # type: ignore[assignment]
    rt.adapters.register(adapter)
    await rt.start(workers=False)
    await rt.config.create(
        "agent", {"agent_id": "asst", "agent_name": "Assistant", "kind": "faq"}, principal=SYSTEM
    )
    await rt.config.create(
        "channel",
        {
            "channel_id": "sms",
            "channel_name": "SMS",
            "channel_type": "sms",
            "provider": "twilio",
            "phone_number": "+14155550100",
            "credentials": {"account_sid": "AC" + "0" * 32, "auth_token": "token"},
        },
        principal=SYSTEM,
    )
    await rt.config.create(
        "mapping", {"agent_id": "asst", "channel_id": "sms", "is_primary": True}, principal=SYSTEM
    )
    try:
        yield Rig(rt, adapter, agent, queue)
    finally:
        await rt.stop()


async def test_a_turn_answers_through_the_channel_once(rig: Rig) -> None:
    rig.agent.script = ["Hello! How can I help?"]
    conversation_id = await rig.inbound("SM1", "hi")
    assert await rig.run_due_jobs() == 1
    assert rig.adapter.texts == ["Hello! How can I help?"]
    assert rig.adapter.sent[0].message.to == CUSTOMER
    assert [m.text for m in rig.agent.turns[0].new_messages] == ["hi"]
    [reply] = await rig.outbound()
    assert (reply.status, reply.conversation_id) == ("sent", conversation_id)
    assert reply.provider_message_id == rig.adapter.sent[0].provider_message_id
    assert await rig.queue.depth() == {"queued": 0, "running": 0, "failed": 0}
    assert await rig.run_due_jobs() == 0  # nothing left: the reply is not sent twice


async def test_messages_that_arrive_before_the_turn_are_answered_together(rig: Rig) -> None:
    rig.agent.script = ["Both answered."]
    await rig.inbound("SM1", "first")
    await rig.inbound("SM2", "second")
    assert await rig.run_due_jobs() == 1  # one job: the burst was debounced into it
    assert [m.text for m in rig.agent.turns[0].new_messages] == ["first", "second"]
    assert rig.adapter.texts == ["Both answered."]


async def test_a_retryable_send_failure_is_retried_later_and_sent_once(rig: Rig) -> None:
    rig.agent.script = ["Sorry for the wait."]
    rig.adapter.fail_next(RetryableDelivery("503 from the provider"))
    await rig.inbound("SM1", "hello?")
    await rig.run_due_jobs()
    assert rig.adapter.texts == []
    [reply] = await rig.outbound()
    assert (reply.status, reply.attempts, reply.status_reason) == ("queued", 1, "503 from the provider")
    [job] = rig.queue.jobs.values()
    assert job.status == "queued" and job.run_at >= reply.next_attempt_at.replace(tzinfo=job.run_at.tzinfo)
    await asyncio.sleep(0.01)  # the 1 ms backoff
    assert await rig.run_due_jobs() == 1
    assert rig.adapter.texts == ["Sorry for the wait."]
    assert len(rig.agent.turns) == 1  # the retry sends the written reply: the agent is not asked again
    [reply] = await rig.outbound()
    assert (reply.status, reply.attempts) == ("sent", 2)


async def test_a_permanent_send_failure_is_kept_with_the_providers_code(rig: Rig) -> None:
    rig.agent.script = ["You will not get this."]
    rig.adapter.fail_next(PermanentDelivery("invalid 'To' number", provider_code="21211"))
    await rig.inbound("SM1", "hi")
    await rig.run_due_jobs()
    [reply] = await rig.outbound()
    assert (reply.status, reply.error_code, reply.status_reason) == ("failed", "21211", "invalid 'To' number")
    assert rig.adapter.texts == []
    assert await rig.queue.depth() == {"queued": 0, "running": 0, "failed": 0}


async def test_an_unsure_reply_flags_the_conversation_for_a_person(rig: Rig) -> None:
    rig.agent.script = [AgentReply(texts=["Let me check with a colleague."], handoff=True, reason="refund")]
    conversation_id = await rig.inbound("SM1", "I want my money back")
    await rig.run_due_jobs()
    async with rig.rt.db.read() as conn:
        conv = (
            await conn.execute(
                sa.select(conversations).where(conversations.c.conversation_id == conversation_id)
            )
        ).one()
    assert conv.needs_human is True and "refund" in (conv.needs_human_reason or "")
    assert rig.adapter.texts == ["Let me check with a colleague."]
