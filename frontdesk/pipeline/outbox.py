"""The outbox sender: deliver a conversation's queued outbound messages, in order, with retries.

Rows are written by the turn (one per reply, unique idempotency key); this only moves them along
queued → sending → sent (→ delivered → read, from status webhooks) or failed / dead. A message
waiting for its retry holds back the later ones of the same conversation, so customers never read
reply 2 before reply 1.

Between the provider's answer and the commit of its outcome there is one statement, retried in
process until the database answers again: a database restart sends nothing twice. A process that
dies in that window (or mid-request) leaves its row ``sending``; once the row's lease has run out
the send is taken over. An adapter whose provider keeps one message per idempotency key sends it
again; any other sends it at most once more, flagged ``possible_duplicate`` (the customer may have
it twice), and a send interrupted a second time ends ``dead`` rather than going out a third time.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from frontdesk.channels.base import ChannelAdapter
from frontdesk.channels.capabilities import Capabilities
from frontdesk.errors import PermanentDelivery, RetryableDelivery
from frontdesk.model import backoff
from frontdesk.model.messages import OutboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.deps import SendDeps
from frontdesk.pipeline.ratelimit import sender_rate
from frontdesk.store.db import as_utc, utcnow

log = structlog.get_logger(__name__)

# How often a send's outcome is tried again while the database does not answer.
RECORD_RETRY_FIRST, RECORD_RETRY_MAX = 0.05, 1.0
# A row being sent is taken over only this many job leases after its claim: longer than the
# conversation's job lease, so a sender still alive but waiting for the database to come back
# records its outcome before anyone else may send the row again.
SEND_LEASES = 2
INTERRUPTED_TWICE = (
    "interrupted twice while being sent (its sender stopped before recording the outcome): not sent "
    "a third time; the customer may have it once, twice or not at all"
)


async def deliver(
    deps: SendDeps, conversation_id: str, recipient: str, channel: ChannelInfo, adapter: ChannelAdapter
) -> datetime | None:
    """Send what is queued; return when to come back for a message waiting to be retried, if any."""
    rows, last_inbound_at = await deps.store.outbox.queued(conversation_id)
    settings = deps.settings
    credentials = deps.cache.credentials(channel) if rows else {}
    capabilities = adapter.capabilities(channel)
    for row in rows:
        due = as_utc(row.next_attempt_at)
        if due is not None and due > utcnow():
            return due  # a retry not yet due, or a send still leased to its (probably dead) sender
        attempt = row.attempts + 1
        # Still "sending" once its lease ran out: its sender died (or lost the database for
        # longer than the lease) before recording what the provider answered.
        taken_over = row.status == "sending"
        flag = taken_over and not adapter.idempotent_sends
        if taken_over and (attempt > settings.send_max_attempts or (flag and row.possible_duplicate)):
            reason = INTERRUPTED_TWICE if flag else f"gave up after {row.attempts} interrupted attempts"
            if await _interrupted_for_good(deps, row, reason):
                deps.notifier.publish(conversation_id)
                await _health(deps, channel, "dead", reason)
            continue
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
        await deps.send_limiter.wait(
            f"{channel.provider}:{channel.routing_key}",
            _rate(channel, capabilities),
            _cost(capabilities, row.text),
        )
        if not await _claim(deps, row, attempt, flag):
            return None  # another worker is sending it (and the ones after it)
        if taken_over:
            log.warning(
                "send taken over after its sender stopped",
                message_id=row.id,
                channel_id=channel.channel_id,
                possible_duplicate=flag,
            )
        values: dict[str, Any]
        health: tuple | None = None
        retry_at = None
        try:
            result = await adapter.send(msg, channel, credentials, deps.http)
        except PermanentDelivery as exc:
            values = {"status": "failed", "status_reason": exc.message, "error_code": exc.provider_code}
            health = ("failed", exc.message, exc.provider_code, exc.needs_attention)
        except Exception as exc:  # network errors, timeouts, 5xx, 429, and anything unforeseen: retry
            retry_after = exc.retry_after if isinstance(exc, RetryableDelivery) else None
            code = exc.provider_code if isinstance(exc, RetryableDelivery) else None
            reason = exc.message if isinstance(exc, RetryableDelivery) else f"{type(exc).__name__}: {exc}"
            if attempt >= settings.send_max_attempts:
                reason = f"gave up after {attempt} attempts: {reason}"
                values = {"status": "dead", "status_reason": reason, "error_code": code}
                health = ("dead", reason, code, False)
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
        else:
            values = {
                "status": result.status,
                "provider_message_id": result.provider_message_id,
                "status_reason": None,
            }
            health = ("sent", None, None, False)
        # Nothing between the provider's answer and this commit: a process dying here is the one
        # way left to lose the outcome of a send.
        await _record(deps, row.id, attempt, values)
        _log_outcome(row.id, channel, values, attempt)
        deps.notifier.publish(conversation_id)
        if health is not None:
            await _health(deps, channel, *health)
        if retry_at is not None:
            return retry_at
    return None


async def _claim(deps: SendDeps, row: Any, attempt: int, possible_duplicate: bool) -> bool:
    """→ sending (attempt number ``attempt``), by one sender only."""
    lease = timedelta(seconds=SEND_LEASES * deps.settings.job_lease_seconds)
    return await deps.store.outbox.claim(row, attempt, lease, possible_duplicate)


async def _interrupted_for_good(deps: SendDeps, row: Any, reason: str) -> bool:
    done = await deps.store.outbox.dead_unclaimed(row, reason)
    if done:
        log.error("send interrupted for good", message_id=row.id, reason=reason)
    return done


async def _record(deps: SendDeps, message_id: int, attempt: int, values: dict[str, Any]) -> None:
    """Commit a send's outcome; while the database does not answer, keep trying here.

    Left ``sending``, the row would be taken over after its lease and sent again. Only the claim
    that made this attempt is updated: a row taken over meanwhile keeps its new sender's outcome.
    """
    delay, tries = RECORD_RETRY_FIRST, 0
    while True:
        tries += 1
        try:
            updated = await deps.store.outbox.record(message_id, attempt, values)
        except Exception as exc:
            if not _database_unavailable(exc):
                raise
            log.warning(
                "recording a send's outcome failed; trying again",
                message_id=message_id,
                tries=tries,
                error=f"{type(exc).__name__}: {str(exc)[:200]}",
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX)
            continue
        if not updated:
            # Committed by a try whose answer was lost, or taken over after a very long outage.
            log.warning("a send's outcome found its row changed", message_id=message_id, tries=tries)
        return


def _database_unavailable(exc: Exception) -> bool:
    """A lost connection, a server restarting or refusing connections, a busy SQLite file."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def _health(
    deps: SendDeps,
    channel: ChannelInfo,
    status: str,
    error: str | None,
    code: str | None = None,
    attention: bool = False,
) -> None:
    """The channel's last send outcome, after the message's own is committed; best effort."""
    try:
        await deps.channel_health.send_outcome(channel, status, error, code, needs_attention=attention)
    except Exception as exc:
        log.warning("recording channel health failed", channel_id=channel.channel_id, error=str(exc)[:200])


def _log_outcome(message_id: int, channel: ChannelInfo, values: dict[str, Any], attempt: int) -> None:
    status, reason = values["status"], values.get("status_reason")
    if status == "failed":
        log.warning("send failed permanently", message_id=message_id, reason=reason)
    elif status == "dead":
        log.error("send dead", message_id=message_id, channel_id=channel.channel_id, reason=reason)
    elif status == "queued":
        at = values["next_attempt_at"].isoformat()
        log.info("send will be retried", message_id=message_id, attempt=attempt, at=at)


def _rate(channel: ChannelInfo, capabilities: Capabilities) -> float:
    try:
        return sender_rate(capabilities.send_rate, channel.settings)
    except ValueError:  # a bad max_mps is reported by validation; meanwhile use the provider's default
        return capabilities.send_rate


def _cost(capabilities: Capabilities, text: str) -> int:
    """SMS throughput is counted in segments; everything else in messages."""
    return capabilities.segments.count(text) if capabilities.segments is not None else 1
