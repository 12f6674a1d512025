"""Identifiers: user-chosen slugs for configuration, generated ids for everything else."""

from __future__ import annotations

import re
import secrets

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
OBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def check_slug(value: str, what: str = "tenant_id") -> str:
    if not SLUG.match(value):
        raise ValueError(
            f"{what} {value!r} must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter "
            "or digit (for example 'dream-weddings')"
        )
    return value


def check_object_id(value: str, what: str) -> str:
    if not OBJECT_ID.match(value):
        raise ValueError(
            f"{what} {value!r} must be 1-128 letters, digits or '_.:+-', starting with a letter or digit"
        )
    return value
