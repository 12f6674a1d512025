"""A customer books, reschedules and cancels a haircut in one conversation, on the real
``frontdesk serve``: web chat → queue → llm turn → calendar tools → database, and the salon's CalDAV
calendar (Radicale on 127.0.0.1). The fake model (on 127.0.0.1 too) plays the model's side: per
customer message, the tool calls it makes, each able to read the previous tool result."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.support import Server, admin_client, conversation, new_session, seed_webchat
from tests.fakes.openai_server import FakeOpenAI, Spec
from tests.helpers import wait_for
from tests.integration.agents.llm_helpers import fake_llm
from tests.integration.calendar.support import TZ, at, calendar_settings, instant, next_weekday
from tests.integration.calendar.test_calendar_caldav import _caldav, _events, calendar_url, radicale

pytestmark = pytest.mark.e2e

__all__ = ["calendar_url", "fake_llm", "radicale"]  # fixtures
TOOLS = [
    "check_availability",
    "book_appointment",
    "reschedule_appointment",
    "cancel_appointment",
    "list_my_appointments",
]
Step = Callable[[Any], Spec]


class ModelSide:
    """Answers a request with the next step planned for the customer's latest message."""

    def __init__(self, plan: dict[str, list[Step]]) -> None:
        self.plan = plan

    def __call__(self, body: dict[str, Any]) -> Spec:
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        done = sum(1 for m in messages[last_user:] if m["role"] == "assistant")
        tool_results = [m for m in messages[last_user:] if m["role"] == "tool"]
        result = json.loads(tool_results[-1]["content"]) if tool_results else None
        return self.plan[messages[last_user]["content"]][done](result)


@dataclass(frozen=True)
class Appointment:
    """A row of calendar_appointments, read from the server's database."""

    appointment_id: str
    status: str
    customer_name: str
    contact_id: str
    start_at: datetime


def _appointments(server: Server) -> list[Appointment]:
    rows = server.query(
        "SELECT appointment_id, status, customer_name, contact_id, start_at FROM calendar_appointments"
    )
    return [
        Appointment(*row[:4], row[4] if isinstance(row[4], datetime) else datetime.fromisoformat(row[4]))
        for row in rows  # SQLite gives the time as text
    ]


async def _setup(client: httpx.AsyncClient, base_url: str, calendar_url: str) -> str:
    """The salon (the default tenant) with its calendar, and an llm agent on web chat; the channel id."""
    channel_id = await seed_webchat(
        client,
        tenant_id="default",
        knowledge=[],
        agent={
            "agent_name": "Ava",
            "kind": "llm",
            "config": {
                "base_url": base_url,
                "model": "fake-model",
                "max_retries": 0,
                "timeout_seconds": 5,
                "tools": TOOLS,
                "fallback_text": "Sorry, a colleague will get back to you.",
            },
        },
    )
    salon = {
        "name": "Dream Weddings",
        "business_profile": {"description": "a hair salon"},
        "timezone": TZ,
        "settings": {"calendar": calendar_settings(caldav=_caldav(calendar_url))},
    }
    r = await client.patch("/api/v1/tenants/default", json=salon)
    assert r.status_code == 200, r.text
    return channel_id


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_book_reschedule_cancel_in_one_conversation(
    backend: str, start_server, fake_llm: FakeOpenAI, calendar_url: str, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    day = next_weekday(0)  # a Monday at least two days away, in Paris
    call, answer = fake_llm.tool_call, fake_llm.answer

    def book(found: dict[str, Any]) -> Spec:
        assert at(day, "10:00") in {slot[:16] for slot in found["slots"]}
        return call("book_appointment", service="Haircut", start=at(day, "10:00"), name="Marie Curie")

    def first_appointment(tool: str, **args: Any) -> Step:
        return lambda found: call(tool, appointment_id=found["appointments"][0]["appointment_id"], **args)

    fake_llm.handler = ModelSide(
        {
            "A haircut on Monday at 10 please": [
                lambda _: call("check_availability", date=day.isoformat(), service="Haircut"),
                book,
                lambda booked: answer(f"Booked: haircut on {booked['start']}.", 0.95),
            ],
            "Can you move it to 14:00?": [
                lambda _: call("list_my_appointments"),
                first_appointment("reschedule_appointment", start=at(day, "14:00")),
                lambda moved: answer(f"Moved to {moved['start']}.", 0.9),
            ],
            "Actually, cancel it": [
                lambda _: call("list_my_appointments"),
                first_appointment("cancel_appointment"),
                lambda cancelled: answer(f"Your appointment is {cancelled['status']}.", 0.9),
            ],
        }
    )
    # The model and the calendar listen on 127.0.0.1: tenant-chosen endpoints may not, by default.
    url = request.getfixturevalue("pg_database") if backend == "postgres" else None
    server = start_server(url, FRONTDESK_HTTP_ACTIONS_ALLOW="127.0.0.1")
    async with admin_client(server) as client:
        await _converse(server, client, fake_llm, calendar_url, day)


async def _converse(
    server: Server, client: httpx.AsyncClient, fake_llm: FakeOpenAI, calendar_url: str, day: date
) -> None:
    channel_id = await _setup(client, fake_llm.base_url, calendar_url)
    session = await new_session(client, channel_id)

    async def say(text: str) -> str:
        r = await client.post(f"/webchat/{channel_id}/messages", json={"session": session, "text": text})
        assert r.status_code == 202, r.text
        return r.json()["conversation_id"]

    async def replies(conversation_id: str, n: int) -> list[str]:
        async def enough() -> list[str] | None:
            conv = await conversation(client, conversation_id)
            out = [m["text"] for m in conv["messages"] if m["direction"] == "out"]
            return out if len(out) >= n else None

        return await wait_for(enough)

    conversation_id = await say("A haircut on Monday at 10 please")
    [reply] = await replies(conversation_id, 1)
    assert reply.startswith(f"Booked: haircut on {at(day, '10:00')}")
    assert "- Haircut, 30 min, 25" in fake_llm.system_prompt(0)  # services from the calendar settings
    [appt] = _appointments(server)
    assert appt.status == "booked" and appt.customer_name == "Marie Curie"
    [(contact_id,)] = server.query(
        "SELECT contact_id FROM conversations WHERE conversation_id = ?", (conversation_id,)
    )
    assert appt.contact_id == contact_id
    uid = f"{appt.appointment_id}@frontdesk"

    async def event_start() -> Any:
        found = await _events(calendar_url)
        return found[uid].decoded("dtstart") if uid in found else None

    assert await wait_for(event_start) == instant(day, "10:00")

    await say("Can you move it to 14:00?")
    assert (await replies(conversation_id, 2))[1].startswith(f"Moved to {at(day, '14:00')}")
    [appt] = _appointments(server)
    assert appt.status == "booked"
    assert appt.start_at.replace(tzinfo=None) == instant(day, "14:00").replace(tzinfo=None)

    async def moved() -> bool:
        return await event_start() == instant(day, "14:00")

    await wait_for(moved)

    await say("Actually, cancel it")
    assert (await replies(conversation_id, 3))[2] == "Your appointment is cancelled."
    [appt] = _appointments(server)
    assert appt.status == "cancelled"

    async def removed() -> bool:
        return uid not in await _events(calendar_url)

    await wait_for(removed)
    got = await client.get(f"/api/v1/conversations/{conversation_id}/runs")
    assert got.status_code == 200, got.text
    runs = got.json()["items"]
    assert [[s["name"] for s in r["steps"] if s["type"] == "tool_call"] for r in runs] == [
        ["check_availability", "book_appointment"],
        ["list_my_appointments", "reschedule_appointment"],
        ["list_my_appointments", "cancel_appointment"],
    ]
    assert all(r["status"] == "ok" and r["handoff"] is False for r in runs)
    assert "Marie Curie" not in json.dumps([r["steps"] for r in runs])  # redacted in the trace
