"""Reading a dataset (CSV text or a JSON list of objects) into rows, all checked before any write.

Every row needs its key (unique in the dataset) and its contact: a phone number with its country
code (normalized to E.164) or an e-mail address (lower-cased). Whether the dataset links by phone
or by e-mail is given, or guessed from the first contact value. Problems are collected with their
line (CSV) or item (JSON) number, and the whole file is refused with all of them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from frontdesk.errors import ConfigError
from frontdesk.model.ids import check_slug
from frontdesk.model.phone import normalize_e164

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_PROBLEMS = 20
KINDS = ("phone", "email")


@dataclass
class Dataset:
    name: str
    key_column: str
    contact_column: str
    contact_kind: str
    columns: list[str]
    rows: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (key, contact, data)


def normalize_contact(value: str, kind: str) -> str:
    """The stored form of a contact value; ValueError saying what is wrong."""
    value = value.strip()
    if kind == "email":
        value = value.removeprefix("mailto:").lower()
        if not EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value
    return normalize_e164(value.removeprefix("tel:").removeprefix("whatsapp:"))


def check_name(name: str) -> str:
    try:
        return check_slug(name, "dataset name")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def parse_csv(text: str) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(columns, [(where, row)]) of CSV text with a header line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = [c.strip() for c in reader.fieldnames or [] if c is not None]
    rows = []
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        data = {str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None}
        rows.append((f"line {reader.line_num}", data))
    return columns, rows


def parse_json(text: str | bytes) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(columns, [(where, row)]) of a JSON list of objects."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"the file is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise ConfigError("a JSON dataset must be a list of objects, one per row")
    columns: dict[str, None] = {}
    rows = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"item {i}: each row must be an object, got {type(item).__name__}")
        columns.update(dict.fromkeys(map(str, item)))
        rows.append((f"item {i}", item))
    return list(columns), rows


def build(
    name: str,
    columns: list[str],
    rows: list[tuple[str, dict[str, Any]]],
    key_column: str,
    contact_column: str,
    contact_kind: str | None = None,
) -> Dataset:
    """Check every row; ConfigError listing the problems (``details``: [{where, message}])."""
    check_name(name)
    missing = [c for c in (key_column, contact_column) if c not in columns]
    if missing:
        raise ConfigError(
            f"dataset '{name}': column(s) {', '.join(repr(c) for c in missing)} not found; "
            f"the file has: {', '.join(columns) or 'no columns'}",
            details=[{"where": "header", "message": f"missing column {c!r}"} for c in missing],
        )
    if contact_kind is None:
        first = next((str(r.get(contact_column) or "") for _, r in rows if r.get(contact_column)), "")
        contact_kind = "email" if "@" in first else "phone"
    if contact_kind not in KINDS:
        raise ConfigError(f"contact kind must be 'phone' or 'email', not {contact_kind!r}")
    dataset = Dataset(name, key_column, contact_column, contact_kind, columns)
    problems: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        key, contact = row.get(key_column), row.get(contact_column)
        key = str(key).strip() if isinstance(key, str | int) and not isinstance(key, bool) else ""
        if not key:
            problems.append({"where": where, "message": f"key column {key_column!r} is empty"})
        elif len(key) > 200:
            problems.append({"where": where, "message": f"key {key[:40]!r}… is longer than 200 characters"})
        elif key in seen:
            problems.append({"where": where, "message": f"key {key!r} already used at {seen[key]}"})
        else:
            seen[key] = where
        if not isinstance(contact, str) or not contact.strip():
            problems.append({"where": where, "message": f"contact column {contact_column!r} is empty"})
            continue
        try:
            normalized = normalize_contact(contact, contact_kind)
        except ValueError as exc:
            problems.append({"where": where, "message": f"column {contact_column!r}: {exc}"})
            continue
        dataset.rows.append((key, normalized, row))
    if problems:
        shown = "; ".join(f"{p['where']}: {p['message']}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ConfigError(
            f"dataset '{name}' refused, nothing was written: {shown}{more}", details=problems[:MAX_PROBLEMS]
        )
    return dataset


def read(
    name: str,
    content: str | bytes,
    fmt: str,
    key_column: str,
    contact_column: str,
    contact_kind: str | None = None,
) -> Dataset:
    """A checked dataset from ``content`` in ``fmt`` ("csv" or "json")."""
    if fmt == "csv":
        try:
            text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
        except UnicodeDecodeError:
            raise ConfigError("the CSV file is not UTF-8 text") from None
        columns, rows = parse_csv(text)
    elif fmt == "json":
        columns, rows = parse_json(content)
    else:
        raise ConfigError(f"unsupported dataset format {fmt!r}; use CSV or JSON")
    return build(name, columns, rows, key_column, contact_column, contact_kind)
