"""The YAML file format: stable output, errors with line numbers."""

from __future__ import annotations

import pytest

from frontdesk.config import yaml_io
from frontdesk.errors import ConfigError


def test_dump_orders_sections_and_round_trips() -> None:
    doc = {"knowledge": [], "agents": [{"b": 1, "a": "x\ny"}], "version": 1}
    text = yaml_io.dump(doc)
    lines = [line for line in text.splitlines() if not line.startswith(("#", " "))]
    assert lines == ["version: 1", "agents:", "knowledge: []"]
    assert "a: |-" in text  # multi-line answers stay readable
    assert yaml_io.load(text) == doc


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        yaml_io.load("version: 1\nagents:\n  - agent_id: a\n   agent_name: [oops\n", "conf.yaml")
    assert info.value.message.startswith("conf.yaml, line 4, column")
    assert "invalid YAML" in info.value.message


def test_a_list_is_not_a_document() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        yaml_io.load("- a\n- b\n")
    assert yaml_io.load("") == {"version": 1}
