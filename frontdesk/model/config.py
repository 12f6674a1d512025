"""Configuration objects: tenants, agents, channels, mappings, knowledge entries.

Their JSON field names are the contract shared by the REST API, the Python API and the YAML file.
Each model checks what it can alone (shapes, E.164, kinds); rules that need the other objects
(uniqueness, references) live in ``config/validation.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from frontdesk.model.ids import check_object_id, check_slug, new_id
from frontdesk.model.llm_config import check_llm_config
from frontdesk.model.phone import normalize_e164

DEFAULT_TENANT = "default"

AgentKind = Literal["faq", "llm", "remote", "router"]
AgentStatus = Literal["active", "paused", "stopped"]
ChannelType = Literal["whatsapp", "sms", "voice", "telegram", "messenger", "instagram", "email", "webchat"]
Provider = Literal["meta", "twilio", "infobip", "acs", "telegram", "mailgun", "sendgrid", "smtp", "webchat"]

# Which channel types each provider carries.
PROVIDER_TYPES: dict[str, frozenset[str]] = {
    "meta": frozenset({"whatsapp", "messenger", "instagram"}),
    "twilio": frozenset({"sms", "whatsapp", "voice"}),
    "infobip": frozenset({"sms", "whatsapp", "voice"}),
    "acs": frozenset({"sms", "whatsapp"}),
    "telegram": frozenset({"telegram"}),
    "mailgun": frozenset({"email"}),
    "sendgrid": frozenset({"email"}),
    "smtp": frozenset({"email"}),
    "webchat": frozenset({"webchat"}),
}
PHONE_TYPES = frozenset({"whatsapp", "sms", "voice"})


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class BusinessProfile(BaseModel):
    model_config = ConfigDict(extra="allow")

    description: str = ""
    services: list[Any] = Field(default_factory=list)
    hours: Any = None
    location: str = ""
    policies: Any = None
    tone: str = ""
    language: str = ""


class TenantConfig(_Config):
    tenant_id: str
    name: str = ""
    business_profile: BusinessProfile = Field(default_factory=BusinessProfile)
    timezone: str = "UTC"
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tenant_id")
    @classmethod
    def _slug(cls, v: str) -> str:
        return check_slug(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone {v!r} is not an IANA time zone (for example 'Europe/Paris')"
            ) from None
        return v

    @model_validator(mode="after")
    def _name(self) -> TenantConfig:
        if not self.name:
            self.name = self.tenant_id
        return self


class FaqAgentSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    confidence_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    fallback_text: str = (
        "Thanks for your message! I'm not sure about that one, so I've asked a colleague to get back to you."
    )


class AgentConfig(_Config):
    agent_id: str
    agent_name: str
    tenant_id: str = DEFAULT_TENANT
    kind: AgentKind = "faq"
    description: str = ""
    status: AgentStatus = "active"
    config: dict[str, Any] = Field(default_factory=dict)
    foundry_endpoint: str | None = None

    @field_validator("agent_id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_object_id(v, "agent_id")

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return check_slug(v)

    @field_validator("agent_name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v:
            raise ValueError("agent_name must not be empty")
        return v

    @model_validator(mode="after")
    def _kind_rules(self) -> AgentConfig:
        if self.kind == "faq":
            FaqAgentSettings.model_validate(self.config)
        if self.kind == "llm":
            check_llm_config(self.config)
        if self.kind == "remote":
            if self.foundry_endpoint and not self.agent_id.startswith("asst_"):
                raise ValueError(
                    "Agent ID must start with 'asst_' for an Azure AI Foundry agent "
                    f"(got {self.agent_id!r}); "
                    "copy the exact id from your Foundry workspace"
                )
            if not self.foundry_endpoint and not self.config.get("url"):
                raise ValueError("a remote agent needs config.url (or foundry_endpoint)")
        for url in filter(None, [self.foundry_endpoint, self.config.get("url")]):
            if not str(url).startswith(("https://", "http://")):
                raise ValueError(f"endpoint {url!r} must be an http(s) URL")
        return self


# What a channel cannot work without: its webhooks cannot be verified or its sends authenticated.
REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "meta": ("access_token", "app_secret", "verify_token"),
    "twilio": ("account_sid", "auth_token"),
}


class ChannelConfig(_Config):
    channel_id: str
    channel_name: str
    channel_type: ChannelType
    provider: Provider
    tenant_id: str = DEFAULT_TENANT
    phone_number: str | None = None
    business_name: str | None = None
    routing_key: str | None = None
    credentials: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    active: bool = True

    @field_validator("channel_id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_object_id(v, "channel_id")

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return check_slug(v)

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return normalize_e164(v) if v else None

    @model_validator(mode="after")
    def _rules(self) -> ChannelConfig:
        allowed = PROVIDER_TYPES[self.provider]
        if self.channel_type not in allowed:
            raise ValueError(
                f"provider {self.provider!r} does not carry {self.channel_type!r} channels "
                f"(it carries: {', '.join(sorted(allowed))})"
            )
        if self.channel_type in PHONE_TYPES and not self.phone_number:
            raise ValueError(
                f"a {self.channel_type} channel needs phone_number in E.164 form like +14155550123"
            )
        if self.channel_type not in PHONE_TYPES and self.phone_number and self.channel_type != "webchat":
            # Telegram, email, Messenger… have no number of their own; keep it if given, it is harmless.
            pass
        missing = [f for f in REQUIRED_CREDENTIALS.get(self.provider, ()) if not self.credentials.get(f)]
        if missing:
            raise ValueError(
                f"a {self.provider} channel needs credentials {', '.join(missing)} "
                f"(required: {', '.join(REQUIRED_CREDENTIALS[self.provider])})"
            )
        if not self.routing_key:
            self.routing_key = self.phone_number or self.channel_id
        return self

    def public(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"credentials"})
        data["credentials_set"] = sorted(k for k, v in self.credentials.items() if v not in (None, ""))
        return data


class AgentChannelMapping(_Config):
    mapping_id: str = Field(default_factory=lambda: new_id("map"))
    agent_id: str
    channel_id: str
    tenant_id: str = DEFAULT_TENANT
    is_primary: bool = False
    priority: int = 0

    @field_validator("mapping_id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_object_id(v, "mapping_id")

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return check_slug(v)


class KnowledgeEntry(_Config):
    id: str = Field(default_factory=lambda: new_id("kb"))
    tenant_id: str = DEFAULT_TENANT
    question: str
    answer: str
    tags: list[str] = Field(default_factory=list)

    @field_validator("question", "answer")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return check_slug(v)


KINDS: dict[str, type[_Config]] = {
    "tenant": TenantConfig,
    "agent": AgentConfig,
    "channel": ChannelConfig,
    "mapping": AgentChannelMapping,
    "knowledge": KnowledgeEntry,
}
