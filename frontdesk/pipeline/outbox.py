"""The outbox sender: deliver a conversation's queued outbound messages, in order, with retries.

Rows are written by the turn (one per reply, unique idempotency key); this only moves them along
queued → sent (→ delivered → read, from status webhooks) or failed / dead. A message waiting for
its retry holds back the later ones of the same conversation, so customers never read reply 2
before reply 1.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from frontdesk.channels.base import ChannelAdapter
from frontdesk.channels.formatting import sms_segments
from frontdesk.errors import PermanentDelivery, RetryableDelivery
from frontdesk.model.messages import OutboundMessage
from frontdesk.pipeline import backoff
from frontdesk.pipeline.cache import ChannelInfo
from frontdesk.pipeline.ratelimit import default_rate
from frontdesk.store.db import as_utc, utcnow
from frontdesk.store.tables import messages

log = structlog.get_logger(__name__)
m = messages.c


async def deliver(
    rt, conversation_id: str, recipient: str, channel: ChannelInfo, adapter: ChannelAdapter
) -> datetime | None:  # type: ignore[no-untyped-def]
    """Send what is queued; return when to come back for a message waiting to be retried, if any."""
    async with rt.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    m.id, m.tenant_id, m.text, m.payload, m.idempotency_key, m.attempts, m.next_attempt_at
                )
                .where(
                    m.conversation_id == conversation_id,
                    m.direction == "out",
                    m.status.in_(("queued", "sending")),
                )
                .order_by(m.id)
            )
        ).all()
        if not rows:
            return None
        # WhatsApp's 24-hour customer service window counts from the customer's last message.
        last_inbound_at = as_utc(
            (
                await conn.execute(
                    sa.select(sa.func.max(m.created_at)).where(
                        m.conversation_id == conversation_id, m.direction == "in"
                    )
                )
            ).scalar()
        )
    settings = rt.settings
    credentials = rt.cache.credentials(channel)
    for row in rows:
        due = as_utc(row.next_attempt_at)
        if due is not None and due > utcnow():
            return due
        msg = OutboundMessage(
            id=row.id,
            tenant_id=row.tenant_id,
            conversation_id=conversation_id,
            channel_id=channel.channel_id,
            to=recipient,
            text=row.text,
            payload=row.payload or {},
            idempotency_key=row.idempotency_key or "",
            attempts=row.attempts,
            last_inbound_at=last_inbound_at,
        )
        # Paced per sender before the claim, so a long wait never outlives the claim's lease.
        await rt.send_limiter.wait(
            f"{channel.provider}:{channel.routing_key}", _rate(channel), _cost(channel, row.text)
        )
        if not await _claim(rt, row.id):
            return None  # another worker is sending it (and the ones after it)
        attempt = row.attempts + 1
        values: dict
        retry_at = None
        try:
            result = await adapter.send(msg, channel, credentials, rt.http)
        except PermanentDelivery as exc:
            values = {"status": "failed", "status_reason": exc.message, "error_code": exc.provider_code}
            await rt.channel_health.send_outcome(
                channel, "failed", exc.message, exc.provider_code, needs_attention=exc.needs_attention
            )
            log.warning(
                "send failed permanently",
                message_id=row.id,
                channel_id=channel.channel_id,
                reason=exc.message,
            )
        except Exception as exc:  # network errors, timeouts, 5xx, 429, and anything unforeseen: retry
            retry_after = exc.retry_after if isinstance(exc, RetryableDelivery) else None
            code = exc.provider_code if isinstance(exc, RetryableDelivery) else None
            reason = exc.message if isinstance(exc, RetryableDelivery) else f"{type(exc).__name__}: {exc}"
            if attempt >= settings.send_max_attempts:
                values = {
                    "status": "dead",
                    "status_reason": f"gave up after {attempt} attempts: {reason}",
                    "error_code": code,
                }
                log.error("send dead", message_id=row.id, channel_id=channel.channel_id, reason=reason)
                await rt.channel_health.send_outcome(channel, "dead", reason, code)
            else:
                retry_at = backoff.next_time(
                    attempt, settings.retry_base_seconds, settings.retry_max_seconds, retry_after
                )
                values = {
                    "status": "queued",
                    "status_reason": reason,
                    "error_code": code,
                    "next_attempt_at": retry_at,
                }
                log.info("send will be retried", message_id=row.id, attempt=attempt, at=retry_at.isoformat())
        else:
            await rt.channel_health.send_outcome(channel, "sent")
            values = {
                "status": result.status,
                "provider_message_id": result.provider_message_id,
                "status_reason": None,
            }
        values.update(attempts=attempt, updated_at=utcnow())
        async with rt.db.write() as conn:
            await conn.execute(
                messages.update().where(m.id == row.id, m.status == "sending").values(**values)
            )
        rt.notifier.publish(conversation_id)
        if retry_at is not None:
            return retry_at
    return None


async def _claim(rt, message_id: int) -> bool:  # type: ignore[no-untyped-def]
    """queued → sending, by one sender only. A send whose sender died is taken over after the lease."""
    now = utcnow()
    lease = timedelta(seconds=rt.settings.job_lease_seconds)
    claimable = sa.or_(m.status == "queued", sa.and_(m.status == "sending", m.next_attempt_at < now))
    async with rt.db.write() as conn:
        got = await conn.execute(
            messages.update()
            .where(m.id == message_id, claimable)
            .values(status="sending", next_attempt_at=now + lease, updated_at=now)
        )
    return bool(got.rowcount)


def _rate(channel: ChannelInfo) -> float:
    try:
        return default_rate(channel.channel_type, channel.provider, channel.phone_number, channel.settings)
    except ValueError:  # a bad max_mps is reported by validation; meanwhile use the provider's default
        settings = {k: v for k, v in channel.settings.items() if k != "max_mps"}
        return default_rate(channel.channel_type, channel.provider, channel.phone_number, settings)


def _cost(channel: ChannelInfo, text: str) -> int:
    """SMS throughput is counted in segments; everything else in messages."""
    return sms_segments(text) if channel.channel_type == "sms" else 1
