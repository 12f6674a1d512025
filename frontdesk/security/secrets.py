"""Secrets at rest: channel credentials are MultiFernet tokens, never stored or returned in clear.

``FRONTDESK_SECRET_KEY`` holds one or more Fernet keys, comma-separated, newest first (rotation:
put the new key first, keep the old ones until ``frontdesk secrets rotate`` re-encrypted
everything). In the embedded mode, with no key set, one is generated on first run and kept in
``<database>.secret`` beside the SQLite file, readable by its owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from frontdesk.errors import ConfigError
from frontdesk.settings import Settings


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError(
                "no secret key: set FRONTDESK_SECRET_KEY (a Fernet key, see `frontdesk secrets new`)"
            )
        self._primary = keys[0].strip().encode()
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "FRONTDESK_SECRET_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from None

    def derive(self, label: str) -> bytes:
        """A key for another purpose (signing web chat sessions), derived from the primary key."""
        return hmac.new(self._primary, label.encode(), hashlib.sha256).digest()

    def encrypt_json(self, value: dict[str, Any]) -> str:
        if not value:
            return ""
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def decrypt_json(self, token: str) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ConfigError(
                "stored credentials cannot be decrypted with FRONTDESK_SECRET_KEY (was the key changed?)"
            ) from None

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode() if token else token

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()


def load_secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key:
        return SecretBox([k for k in settings.secret_key.split(",") if k.strip()])
    path = key_file(settings)
    if path is None:
        if settings.is_sqlite:  # in-memory SQLite: nothing outlives the process anyway
            return SecretBox([SecretBox.new_key()])
        raise ConfigError("FRONTDESK_SECRET_KEY must be set when the database is not an embedded SQLite file")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(SecretBox.new_key() + "\n")
    return SecretBox([k for k in path.read_text().split() if k])


def key_file(settings: Settings) -> Path | None:
    db = settings.sqlite_path
    return db.with_name(db.name + ".secret") if db is not None else None
