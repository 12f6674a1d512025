"""Tenant secrets written in clear before they were sealed: the audit log is redacted by migration
0006, the tenants' rows are sealed at the next start."""

from __future__ import annotations

import json

import sqlalchemy as sa

from frontdesk.config import tenant_secrets
from frontdesk.runtime import Runtime
from frontdesk.store.db import Database, utcnow
from frontdesk.store.migrate import upgrade
from frontdesk.store.tables import audit_log, tenants
from tests.conftest import make_settings

SETTINGS = {
    "calendar": {"caldav": {"url": "https://dav.example.com/c/", "password": "dav-s3cret"}},
    "http_actions": [{"name": "crm", "headers": {"Authorization": "Bearer crm-s3cret"}}],
}
SECRETS = ("dav-s3cret", "crm-s3cret")


async def test_old_rows_lose_their_clear_secrets(database_url: str) -> None:
    db = Database(database_url)
    await upgrade(db.engine, "0005")
    tenant = {"tenant_id": "acme", "name": "Acme", "settings": SETTINGS}
    async with db.write() as conn:
        await conn.execute(
            tenants.insert().values(
                **tenant,
                timezone="UTC",
                business_profile={},
                revision=0,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        await conn.execute(
            audit_log.insert().values(
                tenant_id="acme",
                actor="token:tok_1",
                action="update",
                object_type="tenant",
                object_id="acme",
                before=tenant,
                after={**tenant, "settings": {}},
                at=utcnow(),
            )
        )
    await db.dispose()

    rt = Runtime(make_settings(database_url, run_workers=False))
    await rt.start()  # migrates to the head, then seals what tenants still hold in clear
    try:
        async with rt.db.read() as conn:
            audit = (await conn.execute(sa.select(audit_log.c.before))).scalar_one()
            stored = (
                await conn.execute(sa.select(tenants.c.settings).where(tenants.c.tenant_id == "acme"))
            ).scalar_one()
        assert not any(s in json.dumps(audit) for s in SECRETS)
        assert audit["settings"]["calendar"]["caldav"]["password_set"] is True
        assert audit["settings"]["http_actions"][0]["headers_set"] == ["Authorization"]
        assert not any(s in json.dumps(stored) for s in SECRETS)
        assert tenant_secrets.unseal(stored, rt.secrets) == SETTINGS
    finally:
        await rt.stop()
