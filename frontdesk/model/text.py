"""Text from outside made storable: no NUL characters, no lone surrogates, no infinite numbers.

PostgreSQL's text and JSONB cannot hold U+0000, and neither database driver can encode a lone
surrogate (``"\\ud800"`` is valid JSON, but no UTF-8). Both arrive in webhooks and web chat
messages; each becomes U+FFFD, the replacement character, so the message is kept and shown with a
visible mark where the unreadable character was, the same on SQLite and PostgreSQL. In payloads,
``1e400`` parses as infinity, which JSONB refuses and no JSON answer can carry: it is kept as the
string "inf" (and NaN as "nan").
"""

from __future__ import annotations

import math
import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with NUL characters and surrogates replaced by U+FFFD."""
    if text.isascii() and "\x00" not in text:  # the common case, without a regex pass
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable_json(value: Any) -> Any:
    """A JSON-like value with every string (keys too) made ``storable``, non-finite numbers strings."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(k) if isinstance(k, str) else k: storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    return value
