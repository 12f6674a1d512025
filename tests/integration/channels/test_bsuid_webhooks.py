"""WhatsApp customers known by a business-scoped user id (BSUID), through the real app and pipeline,
answered through the fake Graph API and the fake Twilio REST API over HTTP."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from frontdesk.pipeline.proactive import queue_message
from frontdesk.store.tables import contact_identities, contacts, conversations, messages
from tests.conftest import make_settings
from tests.fakes import meta_graph
from tests.fakes.server import run_app
from tests.fakes.twilio_rest import FakeTwilio
from tests.helpers import setup_webchat, wait_for
from tests.providers import (
    TWILIO_SID,
    add_meta_channel,
    add_twilio_channel,
    fixture_form,
    fixture_json,
    meta_signed,
    twilio_signed,
    whatsapp_status,
)

fake_meta = meta_graph.fake_meta
PUBLIC = "http://frontdesk.test"
BSUID = "US.13491208655302741918"
NEW_BSUID = "US.13491208655302749999"
PHONE = "+972987654321"
HOURS = "We are open Monday to Friday, 9:00 to 17:00."


@pytest.fixture
def settings(database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(database_url, public_url=PUBLIC)  # Twilio signs the URL it calls


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with run_app(fake.app) as base_url:
        fake.base_url = base_url  # type: ignore[attr-defined]
        yield fake


def meta_body(name: str, message_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A recorded WhatsApp webhook; ``message_id`` and ``fields`` replace its message's."""
    body = copy.deepcopy(fixture_json("meta_whatsapp", name))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(fields)
    if message_id:
        message["id"] = message_id
    return body


def bsuid_only(message_id: str, bsuid: str = BSUID, text: str = "what are your opening hours") -> dict:
    body = meta_body("inbound_text_bsuid_only.json", message_id, from_user_id=bsuid, text={"body": text})
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = bsuid
    return body


async def post_meta(client, body):  # type: ignore[no-untyped-def]
    raw, headers = meta_signed(body)
    r = await client.post("/webhooks/meta", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def post_twilio(client, form: dict[str, str]):  # type: ignore[no-untyped-def]
    body, headers = twilio_signed(f"{PUBLIC}/webhooks/twilio", form)
    r = await client.post("/webhooks/twilio", content=body, headers={**headers, "accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


async def rows(rt, table, *where) -> list:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        return (await conn.execute(sa.select(table).where(*where))).all()


async def identities_of(rt, contact_id: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = await rows(rt, contact_identities, contact_identities.c.contact_id == contact_id)
    return {(r.scope, r.address) for r in found}


async def sent(fake, n: int = 1) -> list:  # type: ignore[no-untyped-def]
    async def enough():  # type: ignore[no-untyped-def]
        return len(fake.sent) >= n and fake.sent

    return await wait_for(enough)


async def conversation(rt, conversation_id: str):  # type: ignore[no-untyped-def]
    [row] = await rows(rt, conversations, conversations.c.conversation_id == conversation_id)
    return row


# --- Meta ----------------------------------------------------------------------------------------


async def test_a_customer_without_a_number_is_stored_and_answered_at_the_bsuid(
    runtime, client, fake_meta
) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake_meta.base_url)
    body = fixture_json("meta_whatsapp", "inbound_text_bsuid_only.json")  # the reproduction
    receipt = await post_meta(client, body)
    assert receipt["stored"] == 1 and len(receipt["conversation_ids"]) == 1
    [reply] = await sent(fake_meta)
    assert reply.json["recipient"] == BSUID and "to" not in reply.json
    assert reply.json["text"]["body"] == HOURS
    shown = (await client.get(f"/api/v1/conversations/{receipt['conversation_ids'][0]}")).json()
    assert (shown["contact_name"], shown["contact_handle"]) == ("Ana", "ana.b")
    assert await identities_of(runtime, shown["contact_id"]) == {("channel:wa", BSUID)}
    [contact] = await rows(runtime, contacts, contacts.c.contact_id == shown["contact_id"])
    assert contact.phone_e164 is None

    again = await post_meta(client, body)  # Meta redelivers: stored once, answered once
    assert again["stored"] == 0 and again["duplicates"] == 1
    await asyncio.sleep(0.5)
    assert len(fake_meta.sent) == 1
    assert len(await rows(runtime, messages, messages.c.direction == "in")) == 1

    async def out_sent():  # type: ignore[no-untyped-def]
        found = await rows(runtime, messages, messages.c.direction == "out", messages.c.status == "sent")
        return found and found[0]

    out = await wait_for(out_sent)
    await post_meta(client, whatsapp_status("status_delivered_bsuid_only.json", out.provider_message_id))
    [delivered] = await rows(runtime, messages, messages.c.id == out.id)
    assert delivered.status == "delivered"


async def test_number_and_bsuid_are_one_contact_and_a_later_phoneless_message_continues(
    runtime, client, fake_meta
) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake_meta.base_url)
    first = await post_meta(client, fixture_json("meta_whatsapp", "inbound_text_phone_and_bsuid.json"))
    later = await post_meta(client, bsuid_only("wamid.later", text="What are your opening hours?"))
    assert later["conversation_ids"] == first["conversation_ids"]
    conv = await conversation(runtime, first["conversation_ids"][0])
    assert await identities_of(runtime, conv.contact_id) == {
        ("", PHONE),
        ("channel:wa", BSUID),
        ("channel:wa", "US.ENT.11815799212886844830"),
    }
    [contact] = await rows(runtime, contacts, contacts.c.contact_id == conv.contact_id)
    assert (contact.phone_e164, contact.handle) == (PHONE, "ana.b")
    replies = await sent(fake_meta, 2)
    # The number is known: Meta asks for it (phone-number fields keep coming in webhooks).
    assert [r.json.get("to") for r in replies] == ["972987654321", "972987654321"]


async def test_todays_phone_only_shape_is_unchanged(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake_meta.base_url)
    body = fixture_json("meta_whatsapp", "inbound_text.json")
    contact = body["entry"][0]["changes"][0]["value"]["contacts"][0]
    del contact["user_id"], contact["parent_user_id"]
    receipt = await post_meta(client, body)
    conv = await conversation(runtime, receipt["conversation_ids"][0])
    assert await identities_of(runtime, conv.contact_id) == {("", PHONE)}
    [reply] = await sent(fake_meta)
    assert reply.json["to"] == "972987654321" and "recipient" not in reply.json


async def test_a_new_bsuid_keeps_the_conversation(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake_meta.base_url)
    first = await post_meta(client, bsuid_only("wamid.before"))
    await sent(fake_meta)
    notice = await post_meta(client, fixture_json("meta_whatsapp", "system_user_changed_user_id.json"))
    assert notice["conversation_ids"] == first["conversation_ids"]
    after = await post_meta(client, bsuid_only("wamid.after", bsuid=NEW_BSUID))
    assert after["conversation_ids"] == first["conversation_ids"]
    conv = await conversation(runtime, first["conversation_ids"][0])
    assert await identities_of(runtime, conv.contact_id) == {("channel:wa", NEW_BSUID)}
    replies = await sent(fake_meta, 2)
    assert replies[1].json["recipient"] == NEW_BSUID
    await asyncio.sleep(0.5)
    assert len(fake_meta.sent) == 2  # the notice itself asks nothing of the agent
    [stored] = await rows(runtime, messages, messages.c.provider_message_id == "wamid.SYSUID1")
    assert stored.kind == "system" and stored.turn_id == "notice" and "changed" in stored.text


async def test_a_new_number_keeps_the_conversation(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake_meta.base_url)
    first = await post_meta(client, fixture_json("meta_whatsapp", "inbound_text_phone_and_bsuid.json"))
    await sent(fake_meta)
    await post_meta(client, fixture_json("meta_whatsapp", "system_user_changed_number.json"))
    body = meta_body(
        "inbound_text_phone_and_bsuid.json",
        "wamid.newnumber",
        from_user_id=NEW_BSUID,
        text={"body": "Where are you located?"},
        **{"from": "972912345678"},
    )
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0].update(wa_id="972912345678", user_id=NEW_BSUID)
    after = await post_meta(client, body)
    assert after["conversation_ids"] == first["conversation_ids"]
    conv = await conversation(runtime, first["conversation_ids"][0])
    ids = await identities_of(runtime, conv.contact_id)
    assert ("", "+972912345678") in ids and ("channel:wa", NEW_BSUID) in ids
    assert ("", PHONE) not in ids and ("channel:wa", BSUID) not in ids
    [contact] = await rows(runtime, contacts, contacts.c.contact_id == conv.contact_id)
    assert contact.phone_e164 == "+972912345678"
    replies = await sent(fake_meta, 2)
    assert replies[1].json["to"] == "972912345678"


async def test_a_bsuid_belongs_to_the_business_portfolio_not_the_world(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await setup_webchat(runtime, tenant_id="other", prefix="o")
    portfolio = {"business_portfolio_id": "P1"}
    await add_meta_channel(runtime, fake_meta.base_url, settings=portfolio)
    await add_meta_channel(
        runtime,
        fake_meta.base_url,
        channel_id="wa2",
        routing_key="2233",
        phone="+15550002",
        settings=portfolio,
    )
    await add_meta_channel(
        runtime, fake_meta.base_url, channel_id="wa3", routing_key="3344", phone="+15550003"
    )
    await add_meta_channel(
        runtime,
        fake_meta.base_url,
        channel_id="wa4",
        routing_key="4455",
        phone="+15550004",
        tenant_id="other",
        agent_id="o_faq",
        settings=portfolio,
    )
    contact_of = {}
    for channel_id, key in (("wa", "1122334455667"), ("wa2", "2233"), ("wa3", "3344"), ("wa4", "4455")):
        body = bsuid_only(f"wamid.{channel_id}")
        body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = key
        receipt = await post_meta(client, body)
        contact_of[channel_id] = (await conversation(runtime, receipt["conversation_ids"][0])).contact_id
    assert contact_of["wa"] == contact_of["wa2"]  # two numbers of one portfolio: one customer
    assert len({contact_of["wa"], contact_of["wa3"], contact_of["wa4"]}) == 3
    # Each number answers with the id its own portfolio issued, and never with another's.
    await sent(fake_meta, 4)
    wa3 = await runtime.cache.channel("wa3")
    assert await runtime.store.conversations.recipient(contact_of["wa"], wa3) == ""
    assert await runtime.store.conversations.recipient(contact_of["wa3"], wa3) == BSUID


async def test_proactive_sends_and_templates_to_a_bsuid(runtime, client, fake_meta) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_meta_channel(runtime, fake_meta.base_url)
    r = await client.post(
        "/api/v1/channels/whatsapp/send", json={"to": BSUID, "message": "Your order is ready"}
    )
    assert r.status_code == 200 and r.json()["status"] == "sent", r.text
    assert fake_meta.sent[0].json["recipient"] == BSUID
    bad = await client.post("/api/v1/channels/whatsapp/send", json={"to": "ana.b", "message": "hi"})
    assert bad.status_code == 422 and "business-scoped user id" in bad.text

    channel = await runtime.cache.channel("wa")
    template = {"name": "order_ready", "language": "en_US"}
    ok = await queue_message(runtime, channel, BSUID, "", payload={"template": template})
    code = {**template, "name": "login_code", "category": "authentication"}
    refused = await queue_message(runtime, channel, BSUID, "", payload={"template": code})

    async def settled():  # type: ignore[no-untyped-def]
        found = {
            r.id: r
            for r in await rows(runtime, messages, messages.c.id.in_([ok.message_id, refused.message_id]))
        }
        done = all(r.status not in ("queued", "sending") for r in found.values())
        return done and found

    found = await wait_for(settled)
    assert found[ok.message_id].status == "sent"
    assert fake_meta.sent[1].json["recipient"] == BSUID and fake_meta.sent[1].json["type"] == "template"
    assert found[refused.message_id].status == "failed" and found[refused.message_id].error_code == "131062"
    assert "need the customer's phone number" in found[refused.message_id].status_reason
    assert len(fake_meta.sent) == 2  # the refused template never left

    # Meta's own refusal of a BSUID recipient keeps its code and words.
    fake_meta.fail_next(
        1, body=fixture_json("meta_whatsapp", "error_131062_bsuid_recipient_not_supported.json")
    )
    r = await client.post("/api/v1/channels/whatsapp/send", json={"to": BSUID, "message": "code 1234"})
    assert (
        r.json()["status"] == "failed" and "Business-scoped User ID recipients" in r.json()["status_reason"]
    )


# --- Twilio --------------------------------------------------------------------------------------


def twilio_form(name: str, sid: str) -> dict[str, str]:
    form = fixture_form("twilio", name)
    form.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, AccountSid=TWILIO_SID)
    return form


async def test_twilio_external_user_id_and_bsuid_from(runtime, client, fake_twilio) -> None:  # type: ignore[no-untyped-def]
    await setup_webchat(runtime)
    await add_twilio_channel(runtime, fake_twilio.base_url, channel_type="whatsapp", number="+14123456789")
    only = await post_twilio(client, twilio_form("inbound_whatsapp_text_bsuid_only.form", "SMonly"))
    assert only["stored"] == 1

    async def first_sent():  # type: ignore[no-untyped-def]
        return list(fake_twilio.sent.values())

    [form] = await wait_for(first_sent)
    assert form["To"] == f"whatsapp:{BSUID}" and form["From"] == "whatsapp:+14123456789"
    again = await post_twilio(client, twilio_form("inbound_whatsapp_text_bsuid_only.form", "SMonly"))
    assert again["duplicates"] == 1

    # The number shows up beside the id: the same contact, now reached at the number.
    both = await post_twilio(client, twilio_form("inbound_whatsapp_text_phone_and_bsuid.form", "SMboth"))
    assert both["conversation_ids"] == only["conversation_ids"]

    async def second_sent():  # type: ignore[no-untyped-def]
        return len(fake_twilio.sent) >= 2 and list(fake_twilio.sent.values())

    forms = await wait_for(second_sent)
    assert forms[1]["To"] == "whatsapp:+31612345678"
    conv = await conversation(runtime, only["conversation_ids"][0])
    assert await identities_of(runtime, conv.contact_id) == {("channel:tw", BSUID), ("", "+31612345678")}
