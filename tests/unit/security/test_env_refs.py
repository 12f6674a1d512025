"""The one rule for which environment variables a tenant's configuration may name."""

from __future__ import annotations

import pytest

from frontdesk.security import env_refs


@pytest.mark.parametrize(
    ("name", "tenant", "ok"),
    [
        ("FRONTDESK_TENANT_ACME__CRM_TOKEN", "acme", True),
        ("FRONTDESK_ACTION_ACME__CRM_TOKEN", "acme", True),  # the legacy alias of HTTP actions
        ("FRONTDESK_TENANT_DREAM_WEDDINGS__KEY", "dream-weddings", True),
        ("FRONTDESK_SECRET_KEY", "acme", False),
        ("FRONTDESK_DATABASE_URL", "acme", False),
        ("OPENAI_API_KEY", "acme", False),
        ("FRONTDESK_TENANT_ACME__", "acme", False),
        ("FRONTDESK_TENANT_ACME___X", "acme", False),
        ("FRONTDESK_TENANT_ACME_EU__KEY", "acme", False),  # tenant acme-eu's
        ("FRONTDESK_TENANT_A__B__KEY", "a", False),  # could be tenant a__b's
        ("FRONTDESK_TENANT_A__B__KEY", "a__b", True),
    ],
)
def test_only_the_tenants_own_variables(name: str, tenant: str, ok: bool) -> None:
    assert env_refs.allowed(name, tenant) is ok


def test_read_never_returns_a_variable_that_is_not_the_tenants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", "server-key")
    monkeypatch.setenv("FRONTDESK_TENANT_ACME__KEY", "acme-key")
    assert env_refs.read("FRONTDESK_SECRET_KEY", "acme") is None
    assert env_refs.read("FRONTDESK_TENANT_ACME__KEY", "acme") == "acme-key"
    assert env_refs.read("FRONTDESK_TENANT_ACME__KEY", "other") is None


def test_export_placeholders_follow_the_rule() -> None:
    name = env_refs.tenant_variable("dream-weddings", "wa--main", "access_token")
    assert name == "FRONTDESK_TENANT_DREAM_WEDDINGS__WA_MAIN_ACCESS_TOKEN"
    assert env_refs.allowed(name, "dream-weddings")


def test_run_time_reads_refuse_references_stored_before_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows written by a tenant before the fix may still name the server's key: it is never read.
    from types import SimpleNamespace

    from frontdesk.agents.llm_model import api_key
    from frontdesk.agents.tools.base import ToolError
    from frontdesk.agents.tools.http_actions import HttpAction, render_headers
    from frontdesk.errors import ConfigError
    from frontdesk.model.llm_config import LlmAgentSettings

    monkeypatch.setenv("FRONTDESK_SECRET_KEY", "server-key")
    agent = SimpleNamespace(tenant_id="acme", config={})
    with pytest.raises(ConfigError, match="not set or not this tenant's"):
        api_key(None, agent, LlmAgentSettings(model="m", api_key_env="FRONTDESK_SECRET_KEY"))
    action = HttpAction(
        name="crm",
        description="d",
        url="https://crm.example.com/",
        headers={"X-Key": "${env:FRONTDESK_SECRET_KEY}"},
    )
    with pytest.raises(ToolError, match="not configured"):
        render_headers(action, {}, "acme")
