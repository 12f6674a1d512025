"""redact tenant secrets kept in clear by older audit-log rows

Revision ID: 0007
Revises: 0006

Tenant settings used to be audited as they were written, so ``before``/``after`` of a tenant's
rows could hold the calendar's password and tokens and the HTTP actions' header values, even
after they were removed. They become the set-flags every view shows now
(``config/tenant_secrets.mask``). The tenants' own rows are sealed at start (``seal_stored``),
which needs the secret key; this migration does not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from frontdesk.config.tenant_secrets import mask

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("object_type", sa.String),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
)


def _redacted(obj: dict | None) -> dict | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("settings"), dict):
        return obj
    return {**obj, "settings": mask(obj["settings"])}


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(audit.c.id, audit.c.before, audit.c.after).where(audit.c.object_type == "tenant")
    )
    for row_id, before, after in rows.all():
        new_before, new_after = _redacted(before), _redacted(after)
        if (new_before, new_after) != (before, after):
            conn.execute(
                audit.update().where(audit.c.id == row_id).values(before=new_before, after=new_after)
            )


def downgrade() -> None:
    pass  # what was redacted is gone
