"""settings.calendar: what a valid calendar looks like, and the messages for invalid ones."""

from __future__ import annotations

from datetime import date, time

import pytest

from frontdesk.calendar.config import load
from frontdesk.config.tenant_secrets import for_use
from frontdesk.errors import ConfigError
from frontdesk.security.secrets import SecretBox

BASE = {
    "services": [{"name": "Haircut", "duration_minutes": 30, "price": 25}],
    "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "Saturday": "10:00-14:00"},
}


def cal(**changes):  # type: ignore[no-untyped-def]
    return {"calendar": {**BASE, **changes}}


def test_a_valid_calendar_is_normalized() -> None:
    cfg = load(cal(closed_dates=["2026-12-25", "2026-12-30..2027-01-01"], special_hours={"2026-12-24": []}))
    assert cfg.hours["mon"] == ((time(9), time(12)), (time(13), time(17)))
    assert cfg.hours["sat"] == ((time(10), time(14)),)
    assert cfg.closed_dates == {date(2026, 12, 25), date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1)}
    assert cfg.ranges_on(date(2026, 12, 24)) == ()  # a Thursday made closed by special_hours
    assert cfg.ranges_on(date(2026, 12, 28)) == cfg.hours["mon"]
    assert cfg.slot_minutes == 30 and cfg.capacity == 1 and cfg.sync_backend is None
    assert cfg.service("haircut").name == "Haircut"


def test_capacity_follows_resources_unless_max_concurrent_is_set() -> None:
    people = [{"name": "Anna"}, {"name": "Ben", "services": ["Haircut"]}]
    assert load(cal(resources=people)).capacity == 2
    assert load(cal(resources=people, max_concurrent=1)).capacity == 1
    assert load(cal(max_concurrent=3)).capacity == 3


def test_hours_until_midnight() -> None:
    cfg = load(cal(hours={"fri": ["18:00-24:00"]}))
    assert cfg.hours["fri"] == ((time(18), None),)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"services": []}, "settings.calendar.services", "at least one service"),
        ({"hours": {}}, "settings.calendar.hours", "opening hours per weekday"),
        ({"hours": {"mon": ["17:00-09:00"]}}, "settings.calendar.hours", "closes before it opens"),
        ({"hours": {"mon": ["09:00-12:00", "11:00-14:00"]}}, "settings.calendar.hours", "overlap"),
        ({"hours": {"mon": ["09:07-12:00"]}}, "settings.calendar.hours", "5-minute boundary"),
        ({"hours": {"funday": ["09:00-12:00"]}}, "settings.calendar.hours", "not a weekday"),
        ({"hours": {"mon": ["nine to five"]}}, "settings.calendar.hours", "not a range"),
        ({"slot_minutes": 7}, "settings.calendar.slot_minutes", "multiple of 5"),
        ({"closed_dates": ["25/12/2026"]}, "settings.calendar.closed_dates", "not a date"),
        ({"max_concurrent": -1}, "settings.calendar.max_concurrent", "greater than or equal to 0"),
        (
            {"services": [{"name": "A", "duration_minutes": 22}]},
            "settings.calendar.services.0",
            "multiple of 5",
        ),
        (
            {"services": [{"name": "A", "duration_minutes": 30}, {"name": "a", "duration_minutes": 30}]},
            "settings.calendar.services",
            "unique",
        ),
        ({"resources": [{"name": "Anna", "services": ["Massage"]}]}, "settings.calendar", "unknown services"),
        ({"caldav": {"url": "dav.example.com"}}, "settings.calendar.caldav.url", "http(s) URL"),
        (
            {"caldav": {"url": "https://dav.example.com/"}, "google": {"access_token": "x"}},
            "settings.calendar",
            "either caldav or google",
        ),
        ({"google": {"calendar_id": "primary"}}, "settings.calendar.google", "exactly one way"),
        ({"google": {"refresh_token": "r"}}, "settings.calendar.google", "client_id"),
        ({"colour": "blue"}, "settings.calendar.colour", "Extra inputs"),
    ],
)
def test_invalid_calendars_say_what_and_where(changes: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(cal(**changes))
    assert words in err.value.message
    assert any(d["field"].startswith(field) for d in err.value.details), err.value.details


def test_missing_calendar() -> None:
    with pytest.raises(ConfigError, match="no calendar set up"):
        load({})
    with pytest.raises(ConfigError, match="must be an object"):
        load({"calendar": ["x"]})


def test_unknown_service_lists_the_menu() -> None:
    with pytest.raises(ConfigError, match="the services are: Haircut"):
        load(cal()).service("Massage")


def test_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    box = SecretBox([SecretBox.new_key()])
    name = "FRONTDESK_TENANT_SHOP__DAV_PASSWORD"
    settings = cal(caldav={"url": "https://dav.example.com/c/", "password_env": name})
    assert load(settings).caldav is not None
    with pytest.raises(ConfigError, match=f"{name} is not set or not this tenant's"):
        for_use(settings, "shop", box)
    monkeypatch.setenv(name, "s3cret")
    caldav = load(for_use(settings, "shop", box)).caldav
    assert caldav is not None and caldav.password == "s3cret" and caldav.password_env == ""
    # Another tenant's variable, or one of Frontdesk's own settings, is never read at run time.
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", "the-servers-key")
    for other in (name, "FRONTDESK_SECRET_KEY"):
        settings = cal(caldav={"url": "https://dav.example.com/c/", "password_env": other})
        with pytest.raises(ConfigError, match="not set or not this tenant's"):
            for_use(settings, "other-shop" if other == name else "shop", box)
