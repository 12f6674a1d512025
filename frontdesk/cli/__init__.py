"""The ``frontdesk`` command: serve, worker, demo, init, chat, token, db, config, knowledge."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from frontdesk.errors import FrontdeskError
from frontdesk.settings import Settings, get_settings

app = typer.Typer(
    help="Frontdesk: AI agents on business messaging channels.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
console = Console()
err = Console(stderr=True)

DatabaseOpt = Annotated[
    str | None, typer.Option("--database", "-d", help="database URL (default: FRONTDESK_DATABASE_URL)")
]


def _settings(database: str | None = None, **overrides: object) -> Settings:
    if database:
        overrides["database_url"] = database
    return get_settings(**overrides)


def run(coro):
    return asyncio.run(coro)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    workers: Annotated[int | None, typer.Option(help="in-process workers answering conversations")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Migrate the database and serve the API, webhooks and web chat, with in-process workers."""
    overrides: dict = {}
    if workers is not None:
        overrides["workers"] = workers
    settings = _settings(database, **overrides)
    _serve(settings, host or settings.host, port or settings.port)


def _serve(settings: Settings, host: str, port: int) -> None:
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    import uvicorn

    from frontdesk.app import create_app

    if settings.dev_mode:
        err.print(
            "[bold red]DEVELOPMENT MODE: webhooks without a verification secret are accepted. "
            "Never run this way in production.[/]"
        )
    err.print(
        f"Frontdesk on http://{host}:{port} — database {_redact(settings.database_url)}, "
        f"{settings.workers} workers",
        highlight=False,
        soft_wrap=True,
    )
    # Keep-alive above common proxy/client idle times, so a client never reuses a connection the
    # server is closing at that very moment.
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,
    )


def _redact(url: str) -> str:
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def worker(database: DatabaseOpt = None) -> None:
    """Run workers only (no HTTP): for running more workers beside `frontdesk serve`."""
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.runtime import Runtime

    async def main() -> None:
        rt = Runtime(_settings(database))
        await rt.start(workers=True)
        console.print(f"worker {rt.workers.worker_id} running {rt.workers.size} workers; Ctrl-C stops")
        try:
            await asyncio.Event().wait()
        finally:
            await rt.stop()

    try:
        run(main())
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOpt = None) -> None:
    """Bring the database schema to the newest version."""
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.store.db import Database
    from frontdesk.store.migrate import current_revision, upgrade
    from frontdesk.store.tenants import ensure_default_tenant

    async def main() -> str | None:
        db = Database(_settings(database).database_url)
        try:
            await upgrade(db.engine)
            await ensure_default_tenant(db)
            return await current_revision(db.engine)
        finally:
            await db.dispose()

    console.print(f"database at revision {run(main())}")


@token_app.command("create")
def token_create(
    tenant: Annotated[
        str | None, typer.Option(help="the tenant the token belongs to (default: platform admin)")
    ] = None,
    name: Annotated[str, typer.Option(help="a label to recognise the token by")] = "",
    database: DatabaseOpt = None,
) -> None:
    """Create an API token and print it (it is shown only once)."""
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.cli.support import create_token_cli

    token = run(create_token_cli(_settings(database), tenant, name))
    console.print(token, soft_wrap=True, highlight=False)


@app.command()
def chat(
    to: Annotated[str, typer.Option("--to", help="the business number (E.164) whose agent you talk to")],
    sender: Annotated[
        str, typer.Option("--from", help="the customer number you pretend to be")
    ] = "+15550100100",
    database: DatabaseOpt = None,
) -> None:
    """Chat in the terminal with whatever agent a number routes to, through the real pipeline."""
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.cli.support import terminal_chat
    from frontdesk.observability.logging import configure_logging

    settings = _settings(database)
    # The conversation is the output here; only problems should interleave with it.
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
    run(terminal_chat(settings, to, sender, console))


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    database: Annotated[Path, typer.Option(help="the demo's SQLite file (recreated)")] = Path(
        "frontdesk-demo.db"
    ),
    no_serve: Annotated[bool, typer.Option("--no-serve", help="set up the demo database and exit")] = False,
) -> None:
    """Create a fresh demo database with three businesses, print how to reach them, and serve."""
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.cli.support import create_demo, demo_document, remove_database

    remove_database(database)
    url = f"sqlite+aiosqlite:///{database}"
    settings = _settings(url)
    base = f"http://{host}:{port}"
    token, webchats = run(create_demo(settings, demo_document()))
    console.rule("[bold]Frontdesk demo")
    console.print(f"Database: {database} (fresh)")
    console.print(f"Admin API token: [bold]{token}[/]")
    for business, channel_id in webchats:
        console.print(
            f"  {business:<30} web chat: {base}/webchat/{channel_id}", soft_wrap=True, highlight=False
        )
    console.print(f"API docs: {base}/docs    Health: {base}/health")
    console.print(
        f"Try: curl -H 'Authorization: Bearer {token}' {base}/route/message "
        "-H 'Content-Type: application/json' "
        """-d '{"from": "+15550100100", "to": "+1234567890", "message": "How much is a wedding package?"}'""",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"Or in a terminal: FRONTDESK_DATABASE_URL={url} frontdesk chat --to +1234567890", highlight=False
    )
    if not no_serve:
        _serve(settings, host, port)


@app.command()
def init(
    tenant: Annotated[str | None, typer.Option(help="tenant id (slug), e.g. dream-weddings")] = None,
    name: Annotated[str | None, typer.Option(help="business name")] = None,
    phone: Annotated[str | None, typer.Option(help="business phone number, E.164")] = None,
    channel_type: Annotated[str | None, typer.Option(help="whatsapp, sms or voice")] = None,
    provider: Annotated[str | None, typer.Option(help="meta, twilio, infobip or acs")] = None,
    agent_id: Annotated[str | None, typer.Option(help="agent id, e.g. asst_wedding_001")] = None,
    agent_name: Annotated[str | None, typer.Option(help="agent name")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask; use flags and defaults")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Set up a business: tenant, FAQ agent, phone channel, web chat, and an admin token."""
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.cli.support import InitAnswers, run_init

    def ask(value: str | None, question: str, default: str) -> str:
        if value is not None:
            return value
        return default if yes else typer.prompt(question, default=default)

    business = ask(name, "Business name", "My Business")
    slug_default = "".join(ch if ch.isalnum() else "-" for ch in business.lower()).strip("-") or "my-business"
    answers = InitAnswers(
        name=business,
        tenant_id=ask(tenant, "Tenant id", slug_default),
        phone=ask(phone, "Business phone number (E.164, empty for web chat only)", ""),
        channel_type=ask(channel_type, "Channel type (whatsapp/sms/voice)", "whatsapp"),
        provider=ask(provider, "Provider (meta/twilio/infobip/acs)", "twilio"),
        agent_id=ask(agent_id, "Agent id", "asst_" + slug_default.replace("-", "_") + "_001"),
        agent_name=ask(agent_name, "Agent name", f"{business} assistant"),
    )
    token, created = run(run_init(_settings(database), answers))
    for line in created:
        console.print(f"  created {line}")
    console.print(f"Admin API token: [bold]{token}[/]", highlight=False)
    console.print(
        "Next: add knowledge with `frontdesk knowledge import FILE --tenant " + answers.tenant_id + "`"
    )


@app.command()
def replay(
    files: Annotated[
        list[Path], typer.Argument(help="provider fixture files (Meta JSON, Twilio form bodies)")
    ],
    server: Annotated[str, typer.Option("--server", help="the running Frontdesk")] = "http://127.0.0.1:8000",
    channel: Annotated[
        str | None, typer.Option("--channel", help="send to this channel (rewrites the fixture's number)")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="the URL the server signs against (FRONTDESK_PUBLIC_URL)"),
    ] = None,
    wait: Annotated[float, typer.Option("--wait", help="seconds to wait for each reply")] = 10.0,
    database: DatabaseOpt = None,
) -> None:
    """Post provider webhooks to a running Frontdesk, signed with the channel's secret, and show
    what happened to each: stored, duplicate, and the agent's reply."""
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.cli.support import run_replay

    failed = run(run_replay(_settings(database), files, server, channel, public_url, wait, console))
    if failed:
        raise typer.Exit(1)


def _mount_config_commands() -> None:
    # imported when the command runs: `frontdesk --help` and quick commands start fast
    from frontdesk.cli.config import config_app, knowledge_app

    app.add_typer(config_app, name="config")
    app.add_typer(knowledge_app, name="knowledge")
    from frontdesk.cli.records import records_app

    app.add_typer(records_app, name="records")
    from frontdesk.cli.prompts import prompt_app

    app.add_typer(prompt_app, name="prompt")


_mount_config_commands()


def main() -> None:
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)  # typer.Exit(code) without standalone mode comes back as a return value
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except FrontdeskError as exc:
        err.print(f"[red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        err.print(f"[red]error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
