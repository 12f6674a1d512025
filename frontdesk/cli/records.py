"""``frontdesk records import|list|delete``: a tenant's datasets from the command line.

Works on the database named by ``FRONTDESK_DATABASE_URL`` (migrated if needed), as the REST API
does: the whole file is checked first, then replaces the dataset in one transaction, or nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import Progress
from rich.table import Table

from frontdesk.cli.config import err, fail, out
from frontdesk.errors import ConfigError, FrontdeskError
from frontdesk.records import importer, store
from frontdesk.runtime.config_manager import open_service
from frontdesk.store.db import Database

T = TypeVar("T")
FORMATS = {".csv": "csv", ".json": "json"}

records_app = typer.Typer(help="Customer datasets agents look up (policies, orders…).", no_args_is_help=True)


def run(action: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``action`` on the configured database; FrontdeskError → one line on stderr, exit 1."""

    async def main() -> T:
        svc = await open_service()
        try:
            return await action(svc.db)
        finally:
            await svc.db.dispose()

    try:
        return asyncio.run(main())
    except FrontdeskError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(str(exc))


def _problems(exc: ConfigError) -> None:
    if isinstance(exc.details, list) and exc.details and "where" in exc.details[0]:
        table = Table(title="Problems", title_style="red")
        table.add_column("where")
        table.add_column("problem", overflow="fold")
        for item in exc.details:
            table.add_row(item["where"], item["message"])
        err.print(table)


@records_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help=".csv with a header line, or .json list of objects"),
    dataset: str = typer.Option(..., "--dataset", help="dataset name, e.g. policies"),
    key_column: str = typer.Option(..., "--key-column", help="the column holding each row's key"),
    contact_column: str = typer.Option(
        ..., "--contact-column", help="the column with the customer's phone number (E.164) or e-mail"
    ),
    contact_kind: str | None = typer.Option(None, "--contact-kind", help="phone or email (default: guessed)"),
    tenant: str = typer.Option("default", "--tenant", help="tenant that owns the dataset"),
) -> None:
    """Import a dataset, replacing the tenant's dataset of that name; all rows or nothing."""
    fmt = FORMATS.get(file.suffix.lower())
    if fmt is None:
        fail(f"{file}: unsupported file type {file.suffix!r}; use .csv or .json")
    try:
        content = file.read_bytes()
        parsed = importer.read(dataset, content, fmt, key_column, contact_column, contact_kind)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except ConfigError as exc:
        _problems(exc)
        fail(f"{file}: {exc.message}")

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("Importing", total=len(parsed.rows))

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run(lambda db: store.replace(db, tenant, parsed, progress=step))
    out.print(
        f"Imported {result['row_count']} rows into dataset '{result['dataset']}' of tenant '{tenant}' "
        f"(key {result['key_column']}, linked by {result['contact_kind']} in {result['contact_column']}).",
        highlight=False,
        soft_wrap=True,
    )


@records_app.command("list")
def list_cmd(tenant: str | None = typer.Option(None, "--tenant", help="only this tenant")) -> None:
    """List datasets with their row counts."""
    items: list[dict[str, Any]] = run(lambda db: store.datasets(db, tenant))
    table = Table()
    for column in ("tenant", "dataset", "rows", "key", "contact", "updated"):
        table.add_column(column)
    for d in items:
        contact = f"{d['contact_column']} ({d['contact_kind']})"
        row = (d["tenant_id"], d["dataset"], str(d["row_count"]), d["key_column"], contact, d["updated_at"])
        table.add_row(*row)
    out.print(table)


@records_app.command("delete")
def delete_cmd(
    dataset: str = typer.Argument(..., help="dataset name"),
    tenant: str = typer.Option("default", "--tenant", help="tenant that owns the dataset"),
) -> None:
    """Delete a dataset and all its rows."""
    if not run(lambda db: store.delete(db, tenant, dataset)):
        fail(f"dataset {dataset!r} not found in tenant '{tenant}'")
    out.print(f"Deleted dataset '{dataset}' of tenant '{tenant}'.", highlight=False)
