"""Every knob of Frontdesk, read from ``FRONTDESK_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./frontdesk.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # Comma-separated Fernet keys, newest first. Empty: generated once into a file beside the
    # SQLite database (embedded mode); required on PostgreSQL.
    secret_key: str = ""
    public_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=8, ge=1, le=256)
    # PostgreSQL: connections (and threads) of the hot path; the API's async pool is as many again.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    job_lease_seconds: float = Field(default=30.0, gt=0)
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    send_max_attempts: int = Field(default=8, ge=1)
    turn_max_attempts: int = Field(default=5, ge=1)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    max_body_bytes: int = 1_048_576
    webchat_rate_limit: str = "30/minute"
    # Refuse (keep apart) webhook messages older than this many days; 0: no age window.
    webhook_max_age_days: int = Field(default=0, ge=0, le=3650)
    # Web chat SSE streams, per server process: open streams per session and per client address
    # (the peer, or X-Forwarded-For from the proxies uvicorn trusts: FORWARDED_ALLOW_IPS).
    webchat_streams_per_session: int = Field(default=3, ge=1)
    webchat_streams_per_address: int = Field(default=20, ge=1)
    # A comment line after this long without an event, so proxies keep the connection open.
    webchat_stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # A stream that sent no reply for this long, or open this long in all, is closed; the browser
    # reconnects (and resumes after Last-Event-ID).
    webchat_stream_idle_seconds: float = Field(default=300.0, gt=0)
    webchat_stream_max_seconds: float = Field(default=3600.0, gt=0)
    # A client that does not take a write within this long is cut off.
    webchat_stream_send_timeout_seconds: float = Field(default=10.0, gt=0)
    # Streams are woken by notifications; this slow poll of the store is only a safety net.
    webchat_stream_poll_seconds: float = Field(default=30.0, gt=0)
    # Hosts and CIDRs (comma-separated) that tenant-configured calls (HTTP actions, remote agents,
    # router models) may reach although they are loopback/private; everything else must be public.
    http_actions_allow: str = ""
    config_cache_seconds: float = 2.0
    dev_mode: bool = False
    # Record outbound sends (GET /api/v1/mock/sends) instead of calling providers; webhooks are
    # still verified, since `frontdesk replay` signs what it posts.
    mock_providers: bool = False
    # Shared send rate limits across processes; empty: per process, in memory.
    redis_url: str = ""
    # Largest media download served by GET /api/v1/messages/{id}/media.
    max_media_bytes: int = 16 * 1024 * 1024
    # How long a voice call waits for the agent before a holding phrase (Twilio gives up at 15 s).
    voice_reply_wait_seconds: float = 8.0
    log_level: str = "INFO"
    log_json: bool = False
    # Log phone numbers and message text in clear (debugging only); otherwise they are hashed or left out.
    log_pii: bool = False
    run_workers: bool = True
    # First-generation GC threshold of a running server (see gc_tuning.py); 0 keeps Python's default.
    gc_threshold: int = Field(default=50_000, ge=0)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL and in-memory databases."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[-1].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]  # any field by name; pydantic checks the values
