"""System prompts rendered from the tenant's business profile, through a template the tenant can edit.

The template is Jinja2 in a sandbox (a tenant's template is untrusted input: no attribute access to
Python internals, no mutation). It is the tenant's ``settings.prompt_template`` when set, else the
built-in ``templates/system_prompt.j2``; it is read on every turn, so a change shows on the next
one. A tenant template that fails to render falls back to the default, and says so.

Variables: ``business`` (name, description, services, hours, location, policies, tone, language,
and any other key of the business profile), ``agent`` (id, name, description, instructions),
``now`` (date, time, weekday, timezone, iso) in the tenant's time zone, and ``channel``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from frontdesk.errors import ConfigError
from frontdesk.model.routing import AgentInfo, TenantInfo

log = structlog.get_logger(__name__)

DEFAULT_TEMPLATE_PATH = Path(__file__).with_name("templates") / "system_prompt.j2"
MAX_TEMPLATE_CHARS = 20_000
# Not the locale's: a server's locale must not change the prompt.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    source: str  # "tenant" | "default"
    error: str | None = None  # why the tenant's template was not used


_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
# Checking a new template: an unknown variable is a mistake worth reporting before it is saved.
_strict_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)


@functools.cache
def default_template() -> str:
    return DEFAULT_TEMPLATE_PATH.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return _env.from_string(source)


def template_of(tenant: TenantInfo | None) -> tuple[str, str]:
    """(template text, "tenant" | "default") for ``tenant``."""
    custom = (tenant.settings if tenant else {}).get("prompt_template")
    if isinstance(custom, str) and custom.strip():
        return custom, "tenant"
    return default_template(), "default"


def tenant_now(tenant: TenantInfo | None, at: datetime | None = None) -> datetime:
    """``at`` (default: now) as an aware datetime in the tenant's time zone."""
    try:
        tz: Any = ZoneInfo(tenant.timezone) if tenant else UTC
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    return (at or datetime.now(UTC)).astimezone(tz)


def render_system_prompt(
    tenant: TenantInfo | None, agent: AgentInfo, *, now: datetime | None = None, channel: str = ""
) -> Prompt:
    """The agent's system prompt for a turn happening at ``now`` (default: this instant)."""
    context = prompt_context(tenant, agent, tenant_now(tenant, now), channel)
    source, origin = template_of(tenant)
    try:
        return Prompt(_compiled(source).render(context).strip(), origin)
    except Exception as exc:  # a tenant's template may fail any way (1/0, a bad filter argument)
        if origin == "default":
            raise
        error = f"the tenant's prompt template failed ({type(exc).__name__}: {exc}); the default was used"
        log.warning("prompt template failed", tenant_id=agent.tenant_id, error=str(exc))
        return Prompt(_compiled(default_template()).render(context).strip(), "default", error)


def check_template(source: str, tenant: TenantInfo | None, agent: AgentInfo | None = None) -> str:
    """Render ``source`` with the tenant's data; the rendered text, or ConfigError saying what is wrong."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise ConfigError(
            f"the prompt template is too long ({len(source)} > {MAX_TEMPLATE_CHARS} characters)"
        )
    sample = agent or AgentInfo(
        agent_id="sample", tenant_id=tenant.tenant_id if tenant else "", agent_name="Assistant",
        kind="llm", status="active", config={"instructions": "(the agent's instructions)"},
    )  # fmt: skip
    try:
        return _strict_env.from_string(source).render(prompt_context(tenant, sample, tenant_now(tenant), ""))
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)  # TemplateSyntaxError has it; other template errors do not
        where = f" (line {line})" if line else ""
        raise ConfigError(f"invalid prompt template{where}: {exc}") from None
    except Exception as exc:
        raise ConfigError(f"invalid prompt template: {type(exc).__name__}: {exc}") from None


def prompt_context(
    tenant: TenantInfo | None, agent: AgentInfo, now: datetime, channel: str
) -> dict[str, Any]:
    profile = dict(tenant.business_profile) if tenant else {}
    settings = tenant.settings if tenant else {}
    calendar = settings.get("calendar") or {}
    business = {
        "description": "",
        "location": "",
        "policies": None,
        "tone": "",
        "language": "",
        **profile,
        "name": profile.get("name") or (tenant.name if tenant else ""),
        "services": services(profile.get("services"), calendar.get("services")),
        # The booking calendar's opening hours when the profile gives none: one truth, not two.
        "hours": profile.get("hours") or _hours(calendar.get("hours")),
    }
    return {
        "business": business,
        "agent": {
            "id": agent.agent_id,
            "name": agent.agent_name,
            "description": agent.description,
            "instructions": str(agent.config.get("instructions") or "").strip(),
        },
        "now": {
            "date": now.date().isoformat(),
            "time": now.strftime("%H:%M"),
            "weekday": WEEKDAYS[now.weekday()],
            "timezone": str(now.tzinfo),
            "iso": now.isoformat(timespec="minutes"),
        },
        "channel": channel,
    }


def services(*sources: Any) -> list[dict[str, Any]]:
    """The services of every source, merged by name (the first source wins a conflict, the others fill
    gaps), as ``{"name", "price", "duration_minutes", "description"}``."""
    merged: dict[str, dict[str, Any]] = {}
    for source in sources:
        for item in _items(source):
            key = item["name"].casefold()
            if key not in merged:
                merged[key] = item
            else:
                merged[key] = {k: merged[key].get(k) or v for k, v in item.items()}
    return list(merged.values())


def _items(source: Any) -> list[dict[str, Any]]:
    if not source:
        return []
    if isinstance(source, Mapping):  # {"Haircut": {...}} or {"Haircut": "25 EUR"}
        source = [
            {"name": name, **value} if isinstance(value, Mapping) else {"name": name, "price": value}
            for name, value in source.items()
        ]
    out: list[dict[str, Any]] = []
    for raw in source if isinstance(source, list) else [source]:
        if isinstance(raw, str):
            out.append({"name": raw, "price": None, "duration_minutes": None, "description": ""})
        elif isinstance(raw, Mapping) and (raw.get("name") or raw.get("id")):
            out.append(
                {
                    "name": str(raw.get("name") or raw.get("id")),
                    "price": _price(raw),
                    "duration_minutes": _minutes(raw),
                    "description": str(raw.get("description") or ""),
                }
            )
    return out


def _price(raw: Mapping[str, Any]) -> str | None:
    price = raw.get("price")
    if price is None or price == "":
        return None
    currency = raw.get("currency")
    return f"{price} {currency}" if currency and not isinstance(price, str) else str(price)


def _minutes(raw: Mapping[str, Any]) -> int | None:
    for key in ("duration_minutes", "duration_min", "minutes", "duration"):
        value = raw.get(key)
        if isinstance(value, int | float) and value > 0:
            return int(value)
        if isinstance(value, str) and value.split()[:1] and value.split()[0].isdigit():
            return int(value.split()[0])
    return None


def _hours(hours: Any) -> Any:
    """Calendar hours, ``{"mon": ["09:00-12:00", "13:00-17:00"]}``, one line per day."""
    if not isinstance(hours, Mapping):
        return hours or None
    return {day: ", ".join(v) if isinstance(v, list) else v for day, v in hours.items()} or None
