"""The public fakes in ``frontdesk.testing`` keep their contracts."""

from __future__ import annotations

import httpx
import pytest

from frontdesk.channels.base import ChannelAdapter, RawRequest
from frontdesk.channels.registry import AdapterRegistry
from frontdesk.errors import PermanentDelivery, RetryableDelivery
from frontdesk.model.messages import AgentReply, InboundMessage, OutboundMessage, Turn
from frontdesk.model.routing import AgentInfo, ChannelInfo
from frontdesk.testing import FakeAdapter, ScriptedAgent, ScriptedAgents

CHANNEL = ChannelInfo("ch_1", "default", "sms", "twilio", "+15550001", "+15550001", True, {})


def outbound(text: str, n: int = 1) -> OutboundMessage:
    return OutboundMessage(
        id=n, tenant_id="default", conversation_id="conv", channel_id="ch_1", to="+15551234", text=text
    )


async def test_fake_adapter_records_sends_and_fails_when_told() -> None:
    adapter = FakeAdapter("twilio")
    assert isinstance(adapter, ChannelAdapter) and adapter.provider == "twilio"
    adapter.fail_next(RetryableDelivery("503 from the provider"), times=2)
    adapter.fail_next(PermanentDelivery("21211 invalid number"))
    async with httpx.AsyncClient() as http:
        for expected in (RetryableDelivery, RetryableDelivery, PermanentDelivery):
            with pytest.raises(expected):
                await adapter.send(outbound("hi"), CHANNEL, {}, http)
        result = await adapter.send(outbound("hello", 2), CHANNEL, {}, http)
    assert adapter.texts == ["hello"]
    assert result.provider_message_id == adapter.sent[0].provider_message_id


def test_fake_adapter_stands_in_for_a_provider_and_parses_json() -> None:
    registry = AdapterRegistry()
    adapter = FakeAdapter("twilio")
    registry.register(adapter)
    assert registry.get("twilio") is adapter
    body = b'{"to": "+15550001", "from": "+1555", "id": "m1"}'
    req = RawRequest("POST", "http://x/webhooks/fake", {}, {}, body)
    assert adapter.routing_keys(req) == ["+15550001"]
    [msg] = adapter.parse(req, CHANNEL)
    assert isinstance(msg, InboundMessage) and (msg.provider_message_id, msg.sender) == ("m1", "+1555")


async def test_scripted_agent_answers_in_order_and_records_turns() -> None:
    agent = ScriptedAgent(["one", AgentReply(texts=["two"], confidence=0.2, handoff=True)])
    turn = Turn("default", "asst_1", "ch_1", "sms", "conv", "ct", new_messages=[], history=[])
    assert (await agent.reply(turn)).texts == ["one"]
    second = await agent.reply(turn)
    assert (second.texts, second.handoff) == (["two"], True)
    with pytest.raises(AssertionError, match="no answer left"):
        await agent.reply(turn)
    assert len(agent.turns) == 3
    assert (await ScriptedAgent([], then="again").reply(turn)).texts == ["again"]


async def test_scripted_agents_serve_one_agent_for_every_agent() -> None:
    agent = ScriptedAgent([], then="ok")
    agents = ScriptedAgents(agent)
    info = AgentInfo("asst_1", "default", "Assistant", "faq", "active", {})
    assert await agents.build(None, info, None) is agent
    assert agents.built == ["asst_1"]
