"""Records datasets: upload (REST and CLI), validation, tenant scoping, and lookups by the contact writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from frontdesk.agents.tools import BUILTIN, ToolContext, ToolError
from frontdesk.security.tokens import SYSTEM, create_token
from frontdesk.store.db import utcnow
from frontdesk.store.records_tables import record_datasets, records
from frontdesk.store.tables import contact_identities, contacts

POLICIES = (
    "policy_number,holder,phone,status\n"
    "POL-1001,Ana,+14155550101,active\n"
    "POL-1002,Ben,+1 (415) 555-0102,lapsed\n"
    "POL-1003,Ana,+14155550101,active\n"
)
lookup = BUILTIN["lookup_record"]


async def add_contact(rt: Any, contact_id: str, phone: str | None, *identities: tuple[str, str]) -> None:
    now = utcnow()
    async with rt.db.write() as conn:
        await conn.execute(
            contacts.insert().values(
                contact_id=contact_id, tenant_id="default", phone_e164=phone, created_at=now, updated_at=now
            )
        )
        for provider, address in identities:
            await conn.execute(
                contact_identities.insert().values(
                    tenant_id="default",
                    contact_id=contact_id,
                    provider=provider,
                    address=address,
                    created_at=now,
                )
            )


def ctx(rt: Any, contact_id: str, tenant_id: str = "default") -> ToolContext:
    return ToolContext(rt, tenant_id, "asst", "conv", contact_id, "web")


async def upload(client: Any, name: str, body: str, ctype: str = "text/csv", **params: str) -> Any:
    params = {"key_column": "policy_number", "contact_column": "phone", **params}
    return await client.post(
        f"/api/v1/records/{name}", params=params, content=body, headers={"content-type": ctype}
    )


async def row_count(rt: Any) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(records))).scalar_one())


async def test_a_customer_reads_only_its_own_rows(client, runtime) -> None:  # type: ignore[no-untyped-def]
    r = await upload(client, "policies", POLICIES)
    assert r.status_code == 200, r.text
    assert r.json()["row_count"] == 3 and r.json()["contact_kind"] == "phone"
    await add_contact(runtime, "ct_ana", "+14155550101")
    await add_contact(runtime, "ct_ben", None, ("whatsapp", "+14155550102"))  # known by its identity only
    await add_contact(runtime, "ct_eve", "+14155550199")

    mine = await lookup.handler(ctx(runtime, "ct_ana"), {"dataset": "policies", "key": "pol-1001"})
    assert mine["found"] is True and mine["key"] == "POL-1001"
    assert mine["record"] == {
        "policy_number": "POL-1001",
        "holder": "Ana",
        "phone": "+14155550101",
        "status": "active",
    }
    bens = await lookup.handler(ctx(runtime, "ct_ben"), {"dataset": "policies", "key": "POL-1002"})
    assert bens["found"] is True and bens["record"]["status"] == "lapsed"

    someone_elses = await lookup.handler(ctx(runtime, "ct_eve"), {"dataset": "policies", "key": "POL-1001"})
    missing = await lookup.handler(ctx(runtime, "ct_eve"), {"dataset": "policies", "key": "POL-9999"})
    assert someone_elses["found"] is False
    assert {**someone_elses, "key": "?"} == {**missing, "key": "?"}  # the same answer either way
    assert "Ana" not in json.dumps(someone_elses)
    listing = await lookup.handler(ctx(runtime, "ct_ana"), {"dataset": "policies"})
    assert [x["policy_number"] for x in listing["records"]] == ["POL-1001", "POL-1003"]
    assert (await lookup.handler(ctx(runtime, "ct_eve"), {"dataset": "policies"}))["records"] == []
    assert (await lookup.handler(ctx(runtime, ""), {"dataset": "policies", "key": "POL-1001"}))[
        "found"
    ] is False
    with pytest.raises(ToolError, match="unknown dataset 'claims'; the datasets are: policies"):
        await lookup.handler(ctx(runtime, "ct_ana"), {"dataset": "claims", "key": "x"})


async def test_email_datasets_and_json_uploads(client, runtime) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {"order": 7, "email": "Ana@Example.com", "items": ["veil"]},
        {"order": 8, "email": "ben@example.com", "items": []},
    ]
    r = await upload(
        client, "orders", json.dumps(rows), "application/json", key_column="order", contact_column="email"
    )
    assert (
        r.status_code == 200
        and r.json()["contact_kind"] == "email"
        and r.json()["columns"] == ["order", "email", "items"]
    )
    await add_contact(runtime, "ct_ana", None, ("mailgun", "ana@example.com"))
    found = await lookup.handler(ctx(runtime, "ct_ana"), {"dataset": "orders", "key": "7"})
    assert found["found"] and found["record"]["items"] == ["veil"]
    assert not (await lookup.handler(ctx(runtime, "ct_ana"), {"dataset": "orders", "key": "8"}))["found"]


async def test_upload_replaces_the_dataset(client, runtime) -> None:  # type: ignore[no-untyped-def]
    await upload(client, "policies", POLICIES)
    r = await upload(client, "policies", "policy_number,phone\nPOL-2000,+14155550101\n")
    assert r.json()["row_count"] == 1 and await row_count(runtime) == 1
    listed = (await client.get("/api/v1/records")).json()
    assert [(d["dataset"], d["row_count"], d["tenant_id"]) for d in listed["items"]] == [
        ("policies", 1, "default")
    ]
    assert (await client.get("/api/v1/records/policies")).json()["key_column"] == "policy_number"


@pytest.mark.parametrize(
    ("body", "params", "fragments"),
    [
        ("number,phone\nX,+14155550101\n", {}, ["'policy_number' not found", "the file has: number, phone"]),
        (POLICIES, {"contact_column": "mobile"}, ["'mobile' not found"]),
        (
            "policy_number,phone\nA,+14155550101\nB,4155550102\nC,+1415\n",
            {},
            ["line 3: column 'phone': Phone number '4155550102' must start with '+'", "line 4:"],
        ),
        ("policy_number,phone\nA,+14155550101\nA,+14155550102\n", {}, ["key 'A' already used at line 2"]),
        ("policy_number,phone\n,+14155550101\n", {}, ["line 2: key column 'policy_number' is empty"]),
        (
            "policy_number,email\nA,not-an-address\n",
            {"contact_column": "email", "contact_kind": "email"},
            ["not an e-mail"],
        ),
    ],
)
async def test_invalid_uploads_write_nothing(
    client, runtime, body: str, params: dict, fragments: list
) -> None:  # type: ignore[no-untyped-def]
    await upload(client, "policies", POLICIES)
    r = await upload(client, "policies", body, **params)
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    for fragment in fragments:
        assert fragment in message
    assert await row_count(runtime) == 3  # the previous upload is untouched


async def test_bad_requests(client) -> None:  # type: ignore[no-untyped-def]
    assert (await upload(client, "Policies!", POLICIES)).status_code == 422
    assert (await upload(client, "policies", POLICIES, "text/plain")).status_code == 415
    assert (await upload(client, "policies", "{}", "application/json")).status_code == 422
    r = await client.post("/api/v1/records/policies", params={"key_column": "k"}, content=POLICIES)
    assert r.status_code == 422  # contact_column missing
    assert (await client.delete("/api/v1/records/nothing")).status_code == 404


async def test_tenants_see_only_their_datasets(client, runtime) -> None:  # type: ignore[no-untyped-def]
    for t in ("a", "b"):
        await runtime.config.create("tenant", {"tenant_id": t}, principal=SYSTEM)
    async with runtime.db.write() as conn:
        token_a = (await create_token(conn, "a"))[1]
        token_b = (await create_token(conn, "b"))[1]
    as_a = {"Authorization": f"Bearer {token_a}", "content-type": "text/csv"}
    as_b = {"Authorization": f"Bearer {token_b}", "content-type": "text/csv"}
    params = {"key_column": "policy_number", "contact_column": "phone"}
    r = await client.post("/api/v1/records/policies", params=params, content=POLICIES, headers=as_a)
    assert r.status_code == 200 and r.json()["tenant_id"] == "a"
    r = await client.post(
        "/api/v1/records/policies", params={**params, "tenant_id": "a"}, content=POLICIES, headers=as_b
    )
    assert r.status_code == 404
    assert (await client.get("/api/v1/records", headers=as_b)).json()["items"] == []
    assert (await client.get("/api/v1/records", params={"tenant_id": "a"}, headers=as_b)).status_code == 404
    assert (await client.get("/api/v1/records/policies", headers=as_b)).status_code == 404
    assert (await client.delete("/api/v1/records/policies", headers=as_b)).status_code == 404
    assert [d["tenant_id"] for d in (await client.get("/api/v1/records")).json()["items"]] == ["a"]
    await add_contact(runtime, "ct_ana", "+14155550101")  # a contact of tenant default, same number
    with pytest.raises(ToolError, match="unknown dataset"):
        await lookup.handler(ctx(runtime, "ct_ana", "b"), {"dataset": "policies", "key": "POL-1001"})
    # Tenant a's row has this number, but the contact is another tenant's: nothing.
    assert not (
        await lookup.handler(ctx(runtime, "ct_ana", "a"), {"dataset": "policies", "key": "POL-1001"})
    )["found"]
    assert (await client.delete("/api/v1/records/policies", headers=as_a)).status_code == 204
    async with runtime.db.read() as conn:
        assert (await conn.execute(sa.select(record_datasets))).all() == []


def test_cli_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from frontdesk.cli import app

    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    file = tmp_path / "policies.csv"
    file.write_text(POLICIES)
    runner = CliRunner()
    args = ["records", "import", str(file), "--dataset", "policies", "--key-column", "policy_number"]
    done = runner.invoke(app, [*args, "--contact-column", "phone"])
    assert done.exit_code == 0, done.output
    assert "Imported 3 rows into dataset 'policies' of tenant 'default'" in done.output
    listed = runner.invoke(app, ["records", "list"])
    assert "policies" in listed.output and "3" in listed.output

    bad = tmp_path / "bad.csv"
    bad.write_text("policy_number,phone\nA,+14155550101\nB,555-0102\n")
    failed = runner.invoke(
        app,
        [
            "records",
            "import",
            str(bad),
            "--dataset",
            "policies",
            "--key-column",
            "policy_number",
            "--contact-column",
            "phone",
        ],
    )
    assert failed.exit_code == 1
    assert "line 3" in failed.output and "nothing was written" in failed.output
    again = runner.invoke(app, ["records", "list"])
    assert " 3 " in again.output  # the first import is still there
    missing = runner.invoke(app, [*args, "--contact-column", "mobile"])
    assert missing.exit_code == 1 and "'mobile' not found" in missing.output


async def test_a_customer_known_by_bsuid_reads_rows_once_their_number_is_linked(client, runtime) -> None:  # type: ignore[no-untyped-def]
    from frontdesk.model.messages import InboundMessage
    from tests.helpers import setup_webchat
    from tests.providers import add_meta_channel

    assert (await upload(client, "policies", POLICIES)).status_code == 200
    await setup_webchat(runtime)
    await add_meta_channel(runtime, "http://127.0.0.1:9")  # replies are not the point here
    channel = await runtime.cache.channel("wa")
    bsuid = "US.13491208655302741918"
    only = await runtime.ingest.message(channel, InboundMessage("wamid.r1", bsuid, "hi", bsuid=bsuid))
    # A BSUID is not a phone number: it finds nobody's rows (not even by its digits).
    hidden = await lookup.handler(ctx(runtime, only.contact_id), {"dataset": "policies", "key": "POL-1001"})
    assert hidden["found"] is False
    both = await runtime.ingest.message(
        channel, InboundMessage("wamid.r2", "+14155550101", "hi", bsuid=bsuid)
    )
    assert both.contact_id == only.contact_id
    mine = await lookup.handler(ctx(runtime, only.contact_id), {"dataset": "policies", "key": "POL-1001"})
    assert mine["found"] is True and mine["record"]["holder"] == "Ana"
