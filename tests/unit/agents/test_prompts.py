"""System prompts rendered from the business profile, in the tenant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frontdesk.agents.prompts import check_template, render_system_prompt, services
from frontdesk.errors import ConfigError
from frontdesk.model.routing import AgentInfo, TenantInfo

# Thursday 2026-03-05, 23:30 UTC: already Friday 2026-03-06 in Auckland.
NOW = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
AGENT = AgentInfo("asst_1", "t1", "Ava", "llm", "active", {"instructions": "Offer the tasting menu."})


def tenant(tz: str = "UTC", settings: dict | None = None, **profile) -> TenantInfo:  # type: ignore[no-untyped-def]
    return TenantInfo("t1", "Luna Bistro", tz, profile, settings or {}, 3)


def test_default_template_has_profile_instructions_and_date() -> None:
    t = tenant(
        "UTC",
        description="an Italian bistro",
        services=[
            {"name": "Tasting menu", "price": 65, "currency": "EUR", "duration_minutes": 120},
            "Private room",
        ],
        hours={"Tue-Sun": "12:00-23:00", "Mon": "closed"},
        location="3 Via Roma",
        policies=["No pets", "Cancel 24 h ahead"],
        tone="friendly",
        language="Italian",
    )
    prompt = render_system_prompt(t, AGENT, now=NOW, channel="whatsapp")
    assert prompt.source == "default" and prompt.error is None
    text = prompt.text
    assert text.startswith("You are Ava, the assistant of Luna Bistro: an Italian bistro.")
    assert "on whatsapp" in text
    assert "Today is Thursday, 2026-03-05, and the time is 23:30 (UTC)." in text
    assert "- Tasting menu, 120 min, 65 EUR\n- Private room\n" in text
    assert "- Tue-Sun: 12:00-23:00\n- Mon: closed" in text
    assert "Location: 3 Via Roma" in text
    assert "- No pets\n- Cancel 24 h ahead" in text
    assert "Tone: friendly." in text and "Answer in Italian" in text
    assert text.endswith("Instructions from Luna Bistro:\nOffer the tasting menu.")


def test_date_is_the_tenants_so_relative_days_resolve_locally() -> None:
    text = render_system_prompt(tenant("Pacific/Auckland"), AGENT, now=NOW).text
    assert "Today is Friday, 2026-03-06, and the time is 12:30 (Pacific/Auckland)." in text


def test_services_from_profile_and_calendar_settings_are_merged() -> None:
    calendar = {
        "calendar": {"services": [{"name": "tasting menu", "duration_minutes": 90}, {"name": "Brunch"}]}
    }
    t = tenant(settings=calendar, services=[{"name": "Tasting menu", "price": "65 EUR"}])
    text = render_system_prompt(t, AGENT, now=NOW).text
    assert "- Tasting menu, 90 min, 65 EUR\n- Brunch\n" in text
    with_hours = tenant(settings={"calendar": {"hours": {"tue": ["12:00-15:00", "19:00-23:00"]}}})
    assert "Opening hours:\n- tue: 12:00-15:00, 19:00-23:00" in render_system_prompt(with_hours, AGENT).text
    assert services({"Cut": "20 EUR", "Color": {"duration": "45 min"}}) == [
        {"name": "Cut", "price": "20 EUR", "duration_minutes": None, "description": ""},
        {"name": "Color", "price": None, "duration_minutes": 45, "description": ""},
    ]


def test_tenant_template_is_used_and_a_broken_one_falls_back() -> None:
    custom = tenant(settings={"prompt_template": "{{ business.name }} on {{ now.weekday }}"})
    prompt = render_system_prompt(custom, AGENT, now=NOW)
    assert (prompt.text, prompt.source) == ("Luna Bistro on Thursday", "tenant")
    broken = tenant(settings={"prompt_template": "{{ 1 / 0 }}"})
    prompt = render_system_prompt(broken, AGENT, now=NOW)
    assert prompt.source == "default" and prompt.text.startswith("You are Ava")
    assert "ZeroDivisionError" in (prompt.error or "")
    with pytest.raises(ConfigError, match="ZeroDivisionError"):
        check_template("{{ 1 / 0 }}", tenant())


def test_sandbox_refuses_python_internals() -> None:
    escape = tenant(settings={"prompt_template": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    prompt = render_system_prompt(escape, AGENT, now=NOW)
    assert prompt.source == "default" and "SecurityError" in (prompt.error or "")
    with pytest.raises(ConfigError, match="invalid prompt template"):
        check_template("{{ ''.__class__.__mro__ }}", tenant())


def test_check_template_reports_syntax_and_unknown_names() -> None:
    assert check_template("Hi {{ business.name }}", tenant()) == "Hi Luna Bistro"
    with pytest.raises(ConfigError, match=r"line 2"):
        check_template("ok\n{% if %}", tenant())
    with pytest.raises(ConfigError, match="'customer' is undefined"):
        check_template("{{ customer }}", tenant())
    with pytest.raises(ConfigError, match="too long"):
        check_template("x" * 20_001, tenant())
