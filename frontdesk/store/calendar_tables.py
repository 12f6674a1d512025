"""The calendar's tables, on the shared metadata (migration 0003 creates them).

Capacity is a database invariant: an appointment holds one row in ``calendar_slots`` per
5-minute cell it covers, on a numbered seat, and (tenant, resource, cell, seat) is the primary key.
Resource ``"*"`` has seats 0..max_concurrent-1 (the tenant-wide limit); a named resource (a person,
a room) has seat 0 only. Two transactions racing for the last seat cannot both commit, on SQLite
or PostgreSQL, whatever the application code above does.
"""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.store.tables import TS, metadata

ANY_RESOURCE = "*"


def _tenant_fk() -> sa.Column:
    return sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False
    )


calendar_appointments = sa.Table(
    "calendar_appointments",
    metadata,
    sa.Column("appointment_id", sa.String(40), primary_key=True),
    _tenant_fk(),
    sa.Column(
        "contact_id", sa.String(40), sa.ForeignKey("contacts.contact_id", ondelete="CASCADE"), nullable=False
    ),
    # Where it was booked, for the record; no foreign key: a booking outlives its conversation.
    sa.Column("conversation_id", sa.String(40)),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("resource", sa.String(200)),
    sa.Column("customer_name", sa.String(200), nullable=False, default=""),
    sa.Column("notes", sa.Text, nullable=False, default=""),
    sa.Column("start_at", TS, nullable=False),
    sa.Column("end_at", TS, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # booked | cancelled
    # Bumped by every change; a sync marks "synced" only the revision it pushed.
    sa.Column("revision", sa.Integer, nullable=False, default=0),
    sa.Column("sync_status", sa.String(10)),  # NULL (no calendar connected) | pending | synced | failed
    sa.Column("sync_error", sa.Text),
    sa.Column("sync_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("sync_next_at", TS),  # also the lease of the process pushing it
    sa.Column("external_id", sa.String(1000)),  # CalDAV event URL or Google event id
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Index("ix_calendar_appointments_tenant_start", "tenant_id", "start_at"),
    sa.Index("ix_calendar_appointments_contact", "tenant_id", "contact_id", "start_at"),
    sa.Index("ix_calendar_appointments_sync", "sync_status", "sync_next_at"),
)

calendar_slots = sa.Table(
    "calendar_slots",
    metadata,
    _tenant_fk(),
    sa.Column("resource", sa.String(200), nullable=False),
    sa.Column("slot_start", TS, nullable=False),
    sa.Column("seat", sa.Integer, nullable=False),
    sa.Column(
        "appointment_id",
        sa.String(40),
        sa.ForeignKey("calendar_appointments.appointment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.PrimaryKeyConstraint("tenant_id", "resource", "slot_start", "seat"),
    sa.Index("ix_calendar_slots_appointment", "appointment_id"),
)

# Busy times read back from the connected calendar (events the business made there itself).
calendar_busy = sa.Table(
    "calendar_busy",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    _tenant_fk(),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("start_at", TS, nullable=False),
    sa.Column("end_at", TS, nullable=False),
    sa.Index("ix_calendar_busy_tenant_start", "tenant_id", "start_at"),
)

# One row per tenant: the ICS feed secret and the state of reading busy times back.
calendar_state = sa.Table(
    "calendar_state",
    metadata,
    sa.Column(
        "tenant_id",
        sa.String(64),
        sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("feed_token_hash", sa.String(64)),  # SHA-256: what the feed request is checked against
    sa.Column("feed_token", sa.Text),  # Fernet-encrypted, so the URL can be shown again
    sa.Column("busy_synced_at", TS),
    sa.Column("busy_error", sa.Text),
    sa.Column("busy_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("busy_next_at", TS),
    sa.Column("updated_at", TS, nullable=False),
)
