"""``frontdesk prompt show|set-template|reset``: the system prompt from the command line.

Same configuration service as the API (admin, actor ``cli``); errors print one line, exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from frontdesk.agents import prompt_admin
from frontdesk.cli.config import fail, run
from frontdesk.security.tokens import SYSTEM

ACTOR = "cli"
prompt_app = typer.Typer(help="System prompts of LLM agents and their templates.", no_args_is_help=True)
err = Console(stderr=True)


@prompt_app.command("show")
def show_cmd(agent_id: str = typer.Argument(..., help="the agent whose prompt to render")) -> None:
    """Print the agent's system prompt as it would be rendered now."""
    shown = run(lambda svc: prompt_admin.show(svc, agent_id, SYSTEM))
    err.print(f"template: {shown['template_source']}", highlight=False)
    sys.stdout.write(shown["prompt"] + "\n")


@prompt_app.command("set-template")
def set_template_cmd(
    tenant_id: str = typer.Argument(..., help="the tenant"),
    file: Path = typer.Argument(..., help="a Jinja2 template file ('-' reads standard input)"),
) -> None:
    """Use FILE as the tenant's prompt template (checked by rendering it first)."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    run(lambda svc: prompt_admin.set_template(svc, tenant_id, text, SYSTEM, ACTOR))
    err.print(f"Prompt template of tenant {tenant_id} set from {file}", highlight=False)


@prompt_app.command("reset")
def reset_cmd(tenant_id: str = typer.Argument(..., help="the tenant")) -> None:
    """Go back to the built-in default template."""
    run(lambda svc: prompt_admin.set_template(svc, tenant_id, None, SYSTEM, ACTOR))
    err.print(f"Prompt template of tenant {tenant_id} reset to the default", highlight=False)
