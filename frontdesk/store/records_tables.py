"""The records schema: datasets a tenant uploaded, and their rows, each linked to one contact."""

from __future__ import annotations

import sqlalchemy as sa

from frontdesk.store.tables import TS, metadata

record_datasets = sa.Table(
    "record_datasets",
    metadata,
    sa.Column(
        "tenant_id",
        sa.String(64),
        sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("key_column", sa.String(200), nullable=False),
    sa.Column("contact_column", sa.String(200), nullable=False),
    sa.Column("contact_kind", sa.String(8), nullable=False),  # phone | email
    sa.Column("columns", sa.JSON, nullable=False, default=list),
    sa.Column("row_count", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", TS, nullable=False),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    # E.164 for phone datasets, lower-cased for e-mail ones: compared as is with the contact's.
    sa.Column("contact", sa.String(320), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "dataset"],
        ["record_datasets.tenant_id", "record_datasets.name"],
        ondelete="CASCADE",
    ),
    sa.UniqueConstraint("tenant_id", "dataset", "key"),
    sa.Index("ix_records_contact", "tenant_id", "dataset", "contact"),
)
