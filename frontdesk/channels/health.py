"""Each channel's last inbound and last send outcome, for health and validation (``store.channel_health``
reads them back).

Written on the hot path, so inbound times are written at most every ``interval`` seconds per
channel, and send outcomes only when they change (or after ``interval``): a channel receiving
thousands of webhooks a second costs one small upsert every few seconds.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from frontdesk.model.routing import ChannelInfo
from frontdesk.store import channel_health
from frontdesk.store.db import Database, utcnow

log = structlog.get_logger(__name__)


class ChannelHealth:
    def __init__(self, db: Database, interval: float = 5.0) -> None:
        self.db = db
        self.interval = interval
        self._inbound_written: dict[str, float] = {}
        self._send_written: dict[str, tuple[float, str, str | None]] = {}

    async def inbound(self, channel: ChannelInfo) -> None:
        now = time.monotonic()
        if now - self._inbound_written.get(channel.channel_id, -1e9) < self.interval:
            return
        self._inbound_written[channel.channel_id] = now
        await self._upsert(channel, {"last_inbound_at": utcnow()})

    async def send_outcome(
        self,
        channel: ChannelInfo,
        status: str,
        error: str | None = None,
        code: str | None = None,
        needs_attention: bool = False,
    ) -> None:
        now = time.monotonic()
        last = self._send_written.get(channel.channel_id)
        if last is not None and last[1:] == (status, code) and now - last[0] < self.interval:
            return
        self._send_written[channel.channel_id] = (now, status, code)
        values: dict[str, Any] = {
            "last_send_at": utcnow(),
            "last_send_status": status,
            "last_send_error": error,
            "last_send_code": code,
        }
        if needs_attention:
            values.update(needs_attention=True, attention_reason=error)
        elif status == "sent":
            # A successful send proves the credentials work again.
            values.update(needs_attention=False, attention_reason=None)
        await self._upsert(channel, values)

    def forget(self) -> None:
        """Write the next events at once (after a configuration change, for example)."""
        self._inbound_written.clear()
        self._send_written.clear()

    async def _upsert(self, channel: ChannelInfo, values: dict[str, Any]) -> None:
        try:
            await channel_health.upsert(self.db, channel, values)
        except IntegrityError:
            pass  # the channel was deleted meanwhile: nothing to report on
        except Exception:
            # Health is a report, never a reason to fail the send or the webhook it describes.
            log.warning("channel health not recorded", channel_id=channel.channel_id, exc_info=True)
