"""Identifiers: user-chosen slugs for configuration, generated ids for everything else."""

from __future__ import annotations

import re
import secrets
import time

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
OBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$")


def new_id(prefix: str) -> str:
    """``prefix``, the time in microseconds and 64 random bits, in hex: ids made later sort after,
    so new rows land at the end of their primary key's index instead of on a random page of it
    (a campaign's thousands of new contacts and conversations). 34 characters at most here."""
    return f"{prefix}_{time.time_ns() // 1000:013x}{secrets.token_hex(8)}"


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
