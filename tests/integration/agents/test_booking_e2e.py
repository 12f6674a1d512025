"""A customer books, reschedules and cancels a haircut in one conversation, through the real pipeline:
web chat ingest → queue → llm turn → calendar tools → database, and the salon's CalDAV calendar
(Radicale on 127.0.0.1). The fake model plays the model's side: per customer message, the tool
calls it makes, each able to read the previous tool result."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from frontdesk.store.calendar_tables import calendar_appointments
from tests.fakes.openai_server import FakeOpenAI, Spec
from tests.helpers import wait_for
from tests.integration.agents.llm_helpers import (
    conversation,
    fake_llm,
    replies,
    runs_of,
    say,
    settings,
    setup_llm,
)
from tests.integration.calendar.support import at, calendar_settings, instant, next_weekday
from tests.integration.calendar.test_calendar_caldav import _caldav, _events, calendar_url, radicale

__all__ = ["calendar_url", "fake_llm", "radicale", "settings"]  # fixtures
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


async def _appointments(rt: Any) -> list[Any]:
    async with rt.db.read() as conn:
        return (await conn.execute(sa.select(calendar_appointments))).all()


async def test_book_reschedule_cancel_in_one_conversation(
    runtime, fake_llm: FakeOpenAI, calendar_url: str
) -> None:
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
    ids = await setup_llm(
        runtime,
        fake_llm.base_url,
        profile={"description": "a hair salon"},
        tenant_settings={"calendar": calendar_settings(caldav=_caldav(calendar_url))},
        config={"tools": TOOLS},
    )

    got = await say(runtime, ids["channel_id"], "A haircut on Monday at 10 please", sender="+33612345678")
    [reply] = await replies(runtime, got.conversation_id, 1)
    assert reply.text.startswith(f"Booked: haircut on {at(day, '10:00')}")
    assert "- Haircut, 30 min, 25" in fake_llm.system_prompt(0)  # services from the calendar settings
    [appt] = await _appointments(runtime)
    assert appt.status == "booked" and appt.customer_name == "Marie Curie"
    assert appt.contact_id == (await conversation(runtime, got.conversation_id)).contact_id
    uid = f"{appt.appointment_id}@frontdesk"

    async def event_start() -> Any:
        found = await _events(calendar_url)
        return found[uid].decoded("dtstart") if uid in found else None

    assert await wait_for(event_start) == instant(day, "10:00")

    await say(runtime, ids["channel_id"], "Can you move it to 14:00?", sender="+33612345678")
    assert (await replies(runtime, got.conversation_id, 2))[1].text.startswith(f"Moved to {at(day, '14:00')}")
    [appt] = await _appointments(runtime)
    assert appt.status == "booked"
    assert appt.start_at.replace(tzinfo=None) == instant(day, "14:00").replace(tzinfo=None)

    async def moved() -> bool:
        return await event_start() == instant(day, "14:00")

    await wait_for(moved)

    await say(runtime, ids["channel_id"], "Actually, cancel it", sender="+33612345678")
    assert (await replies(runtime, got.conversation_id, 3))[2].text == "Your appointment is cancelled."
    [appt] = await _appointments(runtime)
    assert appt.status == "cancelled"

    async def removed() -> bool:
        return uid not in await _events(calendar_url)

    await wait_for(removed)
    runs = await runs_of(runtime, got.conversation_id)
    assert [[s["name"] for s in r["steps"] if s["type"] == "tool_call"] for r in runs] == [
        ["check_availability", "book_appointment"],
        ["list_my_appointments", "reschedule_appointment"],
        ["list_my_appointments", "cancel_appointment"],
    ]
    assert all(r["status"] == "ok" and r["handoff"] is False for r in runs)
    assert "Marie Curie" not in json.dumps([r["steps"] for r in runs])  # redacted in the trace
