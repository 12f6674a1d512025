"""``frontdesk config export|import|validate`` and ``frontdesk knowledge import``.

Each command opens the database named by ``FRONTDESK_DATABASE_URL`` (migrating it and creating
the default tenant if needed) and goes through the same ConfigService as the API, as admin, with
actor ``cli``. Errors print one line on stderr and exit 1; usage errors exit 2 (Typer's own).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from frontdesk.config import yaml_io
from frontdesk.config.repository import KINDS
from frontdesk.config.service import ConfigService
from frontdesk.config.validation import build
from frontdesk.errors import ConfigError, FrontdeskError
from frontdesk.runtime.config_manager import open_service
from frontdesk.security.tokens import SYSTEM

T = TypeVar("T")
ACTOR = "cli"

config_app = typer.Typer(help="Export, import and validate the configuration (YAML).", no_args_is_help=True)
knowledge_app = typer.Typer(help="Manage knowledge bases (FAQ entries).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@knowledge_app.callback()
def _knowledge() -> None:
    """Manage knowledge bases (FAQ entries)."""  # a callback keeps `import` a subcommand


def run(action: Callable[[ConfigService], Awaitable[T]]) -> T:
    """Run ``action`` with a ConfigService; FrontdeskError → one line on stderr, exit 1."""

    async def main() -> T:
        svc = await open_service()
        try:
            return await action(svc)
        finally:
            await svc.db.dispose()

    try:
        return asyncio.run(main())
    except FrontdeskError as exc:
        fail(exc.message)
    except OSError as exc:  # a database file that cannot be opened, a full disk
        fail(str(exc))


def fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def plural(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}{'' if n == 1 else 's'}" for k, n in counts.items()) or "nothing"


def issues_table(title: str, items: list[dict[str, Any]], style: str) -> Table:
    table = Table(title=title, title_style=style, show_lines=False)
    for column in ("object", "code", "message"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(f"{item['object_type']} {item['object_id']}", item["code"], item["message"])
    return table


@config_app.command("export")
def export_cmd(
    output: Path | None = typer.Option(
        None, "-o", "--output", help="file to write (default: standard output)"
    ),
    tenant: str | None = typer.Option(None, "--tenant", help="only this tenant"),
) -> None:
    """Write the configuration as YAML. Credentials are written as ${ENV_VAR} references."""
    text = yaml_io.dump(run(lambda svc: svc.export(tenant)))
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    err.print(f"Configuration written to {output}", highlight=False)


@config_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="YAML (or JSON) configuration file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and show the changes, write nothing"),
) -> None:
    """Import a configuration file: validated first, then all of it or nothing (upsert by id)."""
    doc = _load(file)
    result = run(lambda svc: svc.import_(doc, principal=SYSTEM, dry_run=dry_run, actor=ACTOR))
    if result["warnings"]:
        out.print(issues_table("Warnings", result["warnings"], "yellow"))
    verb = ("Would create", "would update") if dry_run else ("Created", "updated")
    out.print(
        f"{verb[0]} {plural(result['created'])}; {verb[1]} {plural(result['updated'])}; "
        f"unchanged: {plural(result['unchanged'])}.",
        highlight=False,
        soft_wrap=True,
    )


@config_app.command("validate")
def validate_cmd(file: Path = typer.Argument(..., help="YAML (or JSON) configuration file")) -> None:
    """Check a file against the current database without writing; exit 1 if it has errors."""
    doc = _load(file)
    report = run(lambda svc: svc.check_import(doc, principal=SYSTEM))
    if report["errors"]:
        out.print(issues_table("Errors", report["errors"], "red"))
    if report["warnings"]:
        out.print(issues_table("Warnings", report["warnings"], "yellow"))
    if report["errors"]:
        fail(f"{file}: {len(report['errors'])} error(s); nothing was written")
    out.print(
        f"{file} is valid ({len(report['warnings'])} warning(s)); importing it would create "
        f"{plural(report['created'])} and update {plural(report['updated'])}.",
        highlight=False,
        soft_wrap=True,
    )


def _load(file: Path) -> dict[str, Any]:
    try:
        return yaml_io.load_file(str(file))
    except ConfigError as exc:
        return fail(exc.message)


# -- knowledge ------------------------------------------------------------------------------------

TAG_SPLIT = re.compile(r"[;|]")


def entry_id(tenant: str, question: str) -> str:
    """A stable id from the question, so importing the same file again updates instead of duplicating."""
    return "kb_" + hashlib.sha256(f"{tenant}\n{question.strip().lower()}".encode()).hexdigest()[:16]


def read_entries(file: Path) -> list[dict[str, Any]]:
    """Rows of a .csv (question, answer, tags split on ';' or '|') or a .yaml list of entries."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    if file.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        missing = {"question", "answer"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(
                f"{file}: missing column(s) {', '.join(sorted(missing))}; expected question,answer,tags"
            )
        rows = []
        for row in reader:
            entry = {"question": row.get("question") or "", "answer": row.get("answer") or ""}
            entry["tags"] = [t.strip() for t in TAG_SPLIT.split(row.get("tags") or "") if t.strip()]
            if row.get("id"):
                entry["id"] = row["id"]
            rows.append(entry)
        return rows
    if file.suffix.lower() in (".yaml", ".yml", ".json"):
        data = yaml_io.load_list(text, str(file))
        return [dict(e) if isinstance(e, dict) else e for e in data]
    raise ConfigError(f"{file}: unsupported file type {file.suffix!r}; use .csv or .yaml")


@knowledge_app.command("import")
def knowledge_import_cmd(
    file: Path = typer.Argument(
        ..., help=".csv (question,answer,tags) or .yaml list of {question, answer, tags}"
    ),
    tenant: str = typer.Option(
        "default", "--tenant", help="tenant whose knowledge base receives the entries"
    ),
) -> None:
    """Import FAQ entries into a tenant's knowledge base, all or nothing."""
    try:
        entries = read_entries(file)
        line = 2 if file.suffix.lower() == ".csv" else 1
        for i, entry in enumerate(entries):
            if isinstance(entry, dict):
                entry["tenant_id"] = tenant
                if isinstance(entry.get("question"), str):
                    entry.setdefault("id", entry_id(tenant, entry["question"]))
            try:
                build(KINDS["knowledge"], entry)
            except ConfigError as exc:
                where = f"line {i + line}" if line == 2 else f"entry {i + 1}"
                raise ConfigError(f"{file} {where}: {exc.message}") from None
    except ConfigError as exc:
        fail(exc.message)

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("Importing", total=len(entries))

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run(
            lambda svc: svc.import_({"knowledge": entries}, principal=SYSTEM, actor=ACTOR, progress=step)
        )
    created = result["created"].get("knowledge", 0)
    updated = result["updated"].get("knowledge", 0)
    out.print(
        f"Imported {len(entries)} knowledge entries into tenant '{tenant}' "
        f"({created} new, {updated} updated, {len(entries) - created - updated} unchanged).",
        highlight=False,
        soft_wrap=True,
    )
