"""The configuration file: YAML in, YAML out, with errors that point at the line."""

from __future__ import annotations

from typing import Any

import yaml

from frontdesk.errors import ConfigError

SECTION_ORDER = ("version", "tenants", "agents", "channels", "mappings", "knowledge")


class _Dumper(yaml.SafeDumper):
    """Block style lists indented under their key, multi-line strings as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(doc: dict[str, Any]) -> str:
    """The document as YAML: sections in their natural order, then keys sorted, so output is stable."""
    ordered = {k: doc[k] for k in SECTION_ORDER if k in doc}
    ordered.update({k: v for k, v in doc.items() if k not in ordered})
    head = "# Frontdesk configuration. Credentials are ${ENV_VAR} references, never values.\n"
    return head + yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def _parse(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def load(text: str, source: str = "<input>") -> dict[str, Any]:
    """Parse a configuration document; ConfigError with the line and column on bad YAML."""
    doc = _parse(text, source)
    if doc is None:
        return {"version": 1}
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{source}: a configuration file must be a mapping with sections like 'agents:' and 'channels:', "
            f"not a {type(doc).__name__}"
        )
    return doc


def load_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return load(text, path)


def load_list(text: str, source: str = "<input>") -> list[Any]:
    """Parse a YAML list (knowledge files); a mapping with one list under ``knowledge:`` is accepted too."""
    data = _parse(text, source)
    if isinstance(data, dict) and isinstance(data.get("knowledge"), list):
        data = data["knowledge"]
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of entries with question, answer and tags")
    return data
