"""The calendar tools' names and arguments are a contract with prompts and acceptance tests."""

from __future__ import annotations

from frontdesk.agents.tools import BUILTIN

EXPECTED = {
    "check_availability": ({"date", "from", "to", "service", "resource"}, set()),
    "book_appointment": ({"service", "start", "name", "resource", "notes"}, {"service", "start", "name"}),
    "reschedule_appointment": ({"appointment_id", "start"}, {"appointment_id", "start"}),
    "cancel_appointment": ({"appointment_id"}, {"appointment_id"}),
    "list_my_appointments": ({"include_past"}, set()),
}


def test_names_and_arguments() -> None:
    for name, (properties, required) in EXPECTED.items():
        tool = BUILTIN[name]
        assert tool.name == name and tool.description
        schema = tool.parameters
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["properties"]) == properties
        assert set(schema.get("required", [])) == required
        assert all(p.get("description") for p in schema["properties"].values())
