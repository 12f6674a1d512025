"""The ``caldav`` and ``google`` blocks of settings.calendar: how to reach the connected calendar.

The secrets are stored encrypted (``config/tenant_secrets.py``, which opens them for use); the
platform may instead name an environment variable of the tenant's (``password_env``,
``access_token_env``, ``client_secret_env``; see ``security/env_refs.py``), read into the value
before these models are built for use, or, for a service account, a key file
(``service_account_file``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class CalDavConfig(_Model):
    url: str
    username: str = ""
    password: str = ""
    password_env: str = ""  # name of an environment variable holding the password
    calendar: str = ""  # a calendar's display name under the user; empty: ``url`` is the calendar
    # "" asks the server first (one extra 401 round trip per session); "basic" sends credentials at once.
    auth_type: Literal["", "basic", "digest", "bearer"] = ""
    poll_seconds: int = Field(default=300, ge=10)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"caldav.url {v!r} must be an http(s) URL of the calendar or of the server")
        return v


class GoogleConfig(_Model):
    calendar_id: str = "primary"
    base_url: str = "https://www.googleapis.com/calendar/v3"
    token_url: str = ""  # default: the service account's token_uri, else Google's
    access_token: str = ""
    access_token_env: str = ""
    refresh_token: str = ""
    client_id: str = ""
    client_secret: str = ""
    client_secret_env: str = ""
    service_account: dict[str, Any] | None = None  # the JSON key file's content
    service_account_file: str = ""
    subject: str = ""  # domain-wide delegation: the user to act as
    poll_seconds: int = Field(default=300, ge=10)

    @model_validator(mode="after")
    def _credentials(self) -> GoogleConfig:
        ways = [
            bool(self.access_token or self.access_token_env),
            bool(self.refresh_token),
            bool(self.service_account or self.service_account_file),
        ]
        if sum(ways) != 1:
            raise ValueError(
                "google needs exactly one way to authenticate: access_token (or access_token_env), "
                "refresh_token with client_id and client_secret, or service_account "
                "(or service_account_file)"
            )
        if self.refresh_token and not (self.client_id and (self.client_secret or self.client_secret_env)):
            raise ValueError("google.refresh_token needs client_id and client_secret")
        for url in (self.base_url, self.token_url):
            if url and not url.startswith(("http://", "https://")):
                raise ValueError(f"google URL {url!r} must be an http(s) URL")
        return self
