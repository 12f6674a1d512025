"""What the CLI commands do, kept apart from argument parsing so tests can call it directly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from frontdesk.cli.replay import Replayed, replay
from frontdesk.errors import BadRequest, NotFound
from frontdesk.model.phone import normalize_e164
from frontdesk.pipeline.simulate import exchange
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import SYSTEM, Principal, create_token
from frontdesk.settings import Settings

DEMO_FILE = Path(__file__).parent.parent / "demo" / "demo.yaml"


async def _runtime(settings: Settings, workers: bool = False) -> Runtime:
    rt = Runtime(settings)
    await rt.start(workers=workers)
    return rt


async def create_token_cli(settings: Settings, tenant: str | None, name: str) -> str:
    rt = await _runtime(settings)
    try:
        if tenant is not None:
            await rt.config.get("tenant", tenant, principal=SYSTEM)  # NotFound: "tenant 'x' not found"
        async with rt.db.write() as conn:
            _, token = await create_token(
                conn, tenant, name or ("admin" if tenant is None else f"{tenant} token")
            )
        return token
    finally:
        await rt.stop()


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


async def create_demo(settings: Settings, doc: dict) -> tuple[str, list[tuple[str, str]]]:
    rt = await _runtime(settings)
    try:
        await rt.config.import_(doc, principal=SYSTEM, actor="demo")
        async with rt.db.write() as conn:
            _, token = await create_token(conn, None, "demo admin")
        tenants = {t["tenant_id"]: t["name"] for t in doc["tenants"]}
        webchats = [
            (tenants[c["tenant_id"]], c["channel_id"]) for c in doc["channels"] if c["provider"] == "webchat"
        ]
        return token, webchats
    finally:
        await rt.stop()


async def terminal_chat(settings: Settings, to: str, sender: str, console: Console) -> None:
    try:
        to, sender = normalize_e164(to), normalize_e164(sender)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    rt = await _runtime(settings, workers=True)
    try:
        channel = await rt.cache.channel_by_phone(to)
        if channel is None:
            raise NotFound(f"No agent found for phone number {to}: no active channel has this number")
        agent = await rt.cache.agent_for_channel(channel.channel_id)
        if agent is None:
            raise NotFound(
                f"No agent found for phone number {to}: channel {channel.channel_id} has no agent mapping"
            )
        console.print(
            f"Talking to [bold]{agent.agent_name}[/] ({agent.agent_id}) on {channel.channel_id} as {sender}. "
            "Empty line or Ctrl-D ends.",
            highlight=False,
        )
        while True:
            try:
                text = console.input("[bold cyan]you>[/] ")
            except (EOFError, KeyboardInterrupt):
                console.print()
                return
            if not text.strip():
                return
            result = await exchange(rt, channel, sender, text, thread="terminal")
            if not result.answered:
                console.print("[yellow](no answer yet: is the agent paused?)[/]")
            for reply in result.replies:
                console.print(f"[bold green]{agent.agent_name}>[/] {reply}", highlight=False)
            if result.needs_human:
                console.print(f"[dim](flagged for a person: {result.needs_human_reason})[/]", highlight=False)
    finally:
        await rt.stop()


@dataclass
class InitAnswers:
    name: str
    tenant_id: str
    phone: str
    channel_type: str
    provider: str
    agent_id: str
    agent_name: str


async def run_init(settings: Settings, a: InitAnswers) -> tuple[str, list[str]]:
    """Create everything in one import (all or nothing) and an admin token."""
    doc: dict = {
        "version": 1,
        "tenants": [{"tenant_id": a.tenant_id, "name": a.name}],
        "agents": [
            {
                "agent_id": a.agent_id,
                "agent_name": a.agent_name,
                "tenant_id": a.tenant_id,
                "kind": "faq",
                "description": f"Answers {a.name}'s customers from its knowledge base",
            }
        ],
        "channels": [
            {
                "channel_id": f"{a.tenant_id}-webchat",
                "channel_name": f"{a.name} web chat",
                "channel_type": "webchat",
                "provider": "webchat",
                "tenant_id": a.tenant_id,
            }
        ],
        "mappings": [
            {
                "mapping_id": f"{a.tenant_id}-webchat-map",
                "agent_id": a.agent_id,
                "channel_id": f"{a.tenant_id}-webchat",
                "tenant_id": a.tenant_id,
                "is_primary": True,
            }
        ],
    }
    if a.phone:
        channel_id = f"{a.tenant_id}-{a.channel_type}"
        doc["channels"].append(
            {
                "channel_id": channel_id,
                "channel_name": f"{a.name} {a.channel_type}",
                "channel_type": a.channel_type,
                "provider": a.provider,
                "phone_number": a.phone,
                "business_name": a.name,
                "tenant_id": a.tenant_id,
            }
        )
        doc["mappings"].append(
            {
                "mapping_id": f"{channel_id}-map",
                "agent_id": a.agent_id,
                "channel_id": channel_id,
                "tenant_id": a.tenant_id,
                "is_primary": True,
            }
        )
    rt = await _runtime(settings)
    try:
        await rt.config.import_(doc, principal=SYSTEM, actor="frontdesk init")
        async with rt.db.write() as conn:
            _, token = await create_token(conn, None, "init admin")
    finally:
        await rt.stop()
    created = [f"tenant {a.tenant_id}", f"agent {a.agent_id}"]
    created += [f"channel {c['channel_id']}" for c in doc["channels"]]
    return token, created


def demo_document() -> dict:
    return yaml.safe_load(DEMO_FILE.read_text())


__all__ = [
    "InitAnswers",
    "Principal",
    "create_demo",
    "create_token_cli",
    "demo_document",
    "run_init",
    "terminal_chat",
]


async def run_replay(
    settings: Settings,
    files: list[Path],
    server: str,
    channel: str | None,
    public_url: str | None,
    wait: float,
    console: Console,
) -> int:
    """Replay fixtures; print one line per file; return how many failed."""

    def show(r: Replayed) -> None:
        mark = "[red]✗[/]" if r.error else "[green]✓[/]"
        console.print(
            f"{mark} {r.file} [dim]({r.provider}, HTTP {r.status})[/] {r.outcome}",
            highlight=False,
            soft_wrap=True,
        )
        for reply in r.replies:
            console.print(f"    ↳ {reply}", highlight=False, soft_wrap=True)

    rt = Runtime(settings)
    await rt.start(migrate=False, workers=False)
    try:
        results = await replay(
            rt, files, server, channel_id=channel, public_url=public_url, wait=wait, on_result=show
        )
    finally:
        await rt.stop()
    return sum(1 for r in results if r.error)
