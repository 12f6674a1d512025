"""Each adapter says what its channels carry: one frozen record that formatting, pacing and the
outbox read; no provider-keyed table outside ``channels/``."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import cast

import pytest

import frontdesk
from frontdesk.channels.capabilities import Capabilities
from frontdesk.channels.formatting import BUTTON_TITLE_CHARS, MAX_BUTTONS
from frontdesk.channels.mock import MockSender
from frontdesk.channels.registry import AdapterRegistry
from frontdesk.channels.twilio import TwilioAdapter
from frontdesk.model.routing import ChannelInfo
from frontdesk.store.db import Database
from tests.providers import capabilities_of

CARRIED = [
    ("whatsapp", "meta"),
    ("messenger", "meta"),
    ("instagram", "meta"),
    ("sms", "twilio"),
    ("whatsapp", "twilio"),
    ("voice", "twilio"),
    ("webchat", "webchat"),
    ("telegram", "telegram"),
    ("sms", "infobip"),
    ("whatsapp", "acs"),
    ("email", "mailgun"),
]


@pytest.mark.parametrize(("channel_type", "provider"), CARRIED)
def test_every_adapter_answers_one_frozen_record(channel_type: str, provider: str) -> None:
    capabilities = capabilities_of(channel_type, provider)
    assert isinstance(capabilities, Capabilities)
    with pytest.raises(dataclasses.FrozenInstanceError):
        capabilities.send_rate = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(("channel_type", "provider"), CARRIED)
def test_agents_choices_fit_every_channel_that_shows_buttons(channel_type: str, provider: str) -> None:
    buttons = capabilities_of(channel_type, provider).buttons
    if buttons is not None:
        assert buttons.max_buttons is None or buttons.max_buttons >= MAX_BUTTONS
        assert buttons.title_chars is None or buttons.title_chars >= BUTTON_TITLE_CHARS


def test_whatsapp_through_meta_and_through_twilio() -> None:
    meta, twilio = capabilities_of("whatsapp", "meta"), capabilities_of("whatsapp", "twilio")
    assert (meta.text_limit, meta.caption_limit, meta.markup, meta.send_rate) == (
        4096,
        1024,
        "whatsapp",
        80.0,
    )
    assert meta.buttons is not None and (meta.buttons.max_buttons, meta.buttons.body_limit) == (3, 1024)
    assert (twilio.text_limit, twilio.buttons, twilio.markup, twilio.send_rate) == (
        1600,
        None,
        "whatsapp",
        10.0,
    )


def test_sms_is_paced_and_counted_in_segments() -> None:
    sms = capabilities_of("sms", "twilio", "+18005550123")
    assert (sms.markup, sms.send_rate, sms.buttons) == ("plain", 3.0, None)
    assert sms.segments is not None and sms.segments.count("a" * 161) == 2
    assert capabilities_of("whatsapp", "meta").segments is None


def test_speech_and_verbatim_channels_are_never_split() -> None:
    assert (capabilities_of("voice", "twilio").markup, capabilities_of("voice", "twilio").text_limit) == (
        "speech",
        None,
    )
    assert (capabilities_of("webchat", "webchat").markup, capabilities_of("email").text_limit) == (
        "verbatim",
        None,
    )


def test_mock_mode_keeps_the_real_adapters_capabilities() -> None:
    channel = ChannelInfo("c", "t", "sms", "twilio", "+15550001111", "12345", True, {})
    real = TwilioAdapter()
    mock = MockSender(real, cast(Database, None))  # capabilities never touch the database
    assert mock.capabilities(channel) == real.capabilities(channel)
    assert mock.capabilities(channel).send_rate == 100.0  # a short code


def test_the_simulated_adapter_is_not_where_a_channel_is_rendered() -> None:
    # A simulated conversation is rendered by its channel's own adapter (pipeline.turn); the
    # in-store stand-in only delivers.
    registry = AdapterRegistry()
    channel = ChannelInfo("c", "t", "sms", "twilio", "+15550001111", None, True, {})
    assert registry.get("twilio").capabilities(channel).text_limit == 1600
    assert registry.simulated.capabilities(channel).markup == "plain"


# --- no provider tables above channels/ ----------------------------------------------------------

NAMES = frozenset(
    {"meta", "twilio", "infobip", "acs", "telegram", "mailgun", "sendgrid", "smtp"}
    | {"whatsapp", "sms", "voice", "messenger", "instagram", "email", "webchat"}
)
PACKAGE = Path(frontdesk.__file__).parent


def _names_in(node: ast.AST | None) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & NAMES
    if isinstance(node, ast.Tuple):
        return set().union(*(_names_in(e) for e in node.elts))
    return set()


def _tables(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        keys: list[ast.expr | None] = []
        if isinstance(node, ast.Dict):
            keys = node.keys
        elif isinstance(node, ast.Set):
            keys = list(node.elts)
        named = [names for names in map(_names_in, keys) if names]
        if len(named) >= 2:  # one such key is a field (a payload's "voice"); more make a table
            hits = set().union(*named)
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} keyed by {sorted(hits)}")
    return found


def test_no_table_outside_channels_is_keyed_by_a_provider_or_channel_type() -> None:
    modules = [
        p for package in ("pipeline", "agents", "api") for p in sorted((PACKAGE / package).rglob("*.py"))
    ]
    assert modules
    assert [table for path in modules for table in _tables(path)] == []
