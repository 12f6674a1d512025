"""The ICS feed of a tenant's bookings, behind a secret token in its URL.

Calendar apps subscribe to a URL and cannot send an API token, so the URL carries its own secret,
one per tenant. Only its SHA-256 is compared on a request; the token itself is kept encrypted
(MultiFernet, like channel credentials) so the dashboard can show the URL again. Rotating it
revokes every subscription made with the old URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import sqlalchemy as sa

from frontdesk.calendar import ics, state
from frontdesk.calendar.appointment import BOOKED, Appointment
from frontdesk.calendar.times import zone
from frontdesk.errors import ConfigError
from frontdesk.security.secrets import SecretBox
from frontdesk.store.calendar_tables import calendar_appointments
from frontdesk.store.db import Database, utcnow

HISTORY = timedelta(days=90)  # past bookings kept in the feed
MAX_EVENTS = 5000


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def feed_token(db: Database, box: SecretBox, tenant_id: str, *, rotate: bool = False) -> str:
    """The tenant's feed secret, created on first use (or replaced, with ``rotate``)."""

    def run(conn: sa.Connection) -> str:
        now = utcnow()
        row = state.ensure(conn, tenant_id, now)
        if row.feed_token and not rotate:
            try:
                return box.decrypt_json(row.feed_token)["token"]
            except ConfigError:
                pass  # encrypted with a key that is gone: the old URL cannot be shown, so replace it
        token = secrets.token_urlsafe(24)
        state.update(
            conn,
            tenant_id,
            now,
            feed_token=box.encrypt_json({"token": token}),
            feed_token_hash=_digest(token),
        )
        return token

    return await db.run_write(run)


async def verify(db: Database, tenant_id: str, token: str) -> bool:
    row = await db.run_read(lambda c: state.read(c, tenant_id))
    if row is None or not row.feed_token_hash or not token:
        return False
    return hmac.compare_digest(row.feed_token_hash, _digest(token))


async def document(db: Database, tenant_id: str, name: str, timezone: str) -> bytes:
    """The feed: the tenant's booked appointments from 90 days ago on."""
    appointment_cols = calendar_appointments.c
    stmt = (
        sa.select(calendar_appointments)
        .where(
            appointment_cols.tenant_id == tenant_id,
            appointment_cols.status == BOOKED,
            appointment_cols.end_at > utcnow() - HISTORY,
        )
        .order_by(appointment_cols.start_at)
        .limit(MAX_EVENTS)
    )
    rows = await db.run_read(lambda conn: conn.execute(stmt).all())
    return ics.feed(name, zone(timezone), [Appointment.from_row(r) for r in rows], utcnow())
