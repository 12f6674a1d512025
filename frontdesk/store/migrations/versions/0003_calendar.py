"""calendar: resources, appointments, slot occupancy, sync state

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.tenant_id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "calendar_appointments",
        sa.Column("appointment_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=True),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=True),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("start_at", TS, nullable=False),
        sa.Column("end_at", TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("sync_status", sa.String(length=10), nullable=True),
        sa.Column("sync_error", sa.Text(), nullable=True),
        sa.Column("sync_attempts", sa.Integer(), nullable=False),
        sa.Column("sync_next_at", TS, nullable=True),
        sa.Column("external_id", sa.String(length=1000), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.contact_id"],
            name=op.f("fk_calendar_appointments_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        _tenant_fk("calendar_appointments"),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_calendar_appointments")),
    )
    with op.batch_alter_table("calendar_appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calendar_appointments_tenant_start", ["tenant_id", "start_at"], unique=False
        )
        batch_op.create_index(
            "ix_calendar_appointments_contact", ["tenant_id", "contact_id", "start_at"], unique=False
        )
        batch_op.create_index("ix_calendar_appointments_sync", ["sync_status", "sync_next_at"], unique=False)

    op.create_table(
        "calendar_slots",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=False),
        sa.Column("slot_start", TS, nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["calendar_appointments.appointment_id"],
            name=op.f("fk_calendar_slots_appointment_id_calendar_appointments"),
            ondelete="CASCADE",
        ),
        _tenant_fk("calendar_slots"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "resource", "slot_start", "seat", name=op.f("pk_calendar_slots")
        ),
    )
    with op.batch_alter_table("calendar_slots", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_slots_appointment", ["appointment_id"], unique=False)

    op.create_table(
        "calendar_busy",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("start_at", TS, nullable=False),
        sa.Column("end_at", TS, nullable=False),
        _tenant_fk("calendar_busy"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_busy")),
    )
    with op.batch_alter_table("calendar_busy", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_busy_tenant_start", ["tenant_id", "start_at"], unique=False)

    op.create_table(
        "calendar_state",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("feed_token_hash", sa.String(length=64), nullable=True),
        sa.Column("feed_token", sa.Text(), nullable=True),
        sa.Column("busy_synced_at", TS, nullable=True),
        sa.Column("busy_error", sa.Text(), nullable=True),
        sa.Column("busy_attempts", sa.Integer(), nullable=False),
        sa.Column("busy_next_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("calendar_state"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_calendar_state")),
    )


def downgrade() -> None:
    op.drop_table("calendar_state")
    with op.batch_alter_table("calendar_busy", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_busy_tenant_start")
    op.drop_table("calendar_busy")
    with op.batch_alter_table("calendar_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_slots_appointment")
    op.drop_table("calendar_slots")
    with op.batch_alter_table("calendar_appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_appointments_sync")
        batch_op.drop_index("ix_calendar_appointments_contact")
        batch_op.drop_index("ix_calendar_appointments_tenant_start")
    op.drop_table("calendar_appointments")
