"""Idle web chat streams: what N open SSE streams cost one ``frontdesk serve`` process.

Starts ONE real ``frontdesk serve`` on a fresh database (SQLite in a temp dir, then, if a
PostgreSQL URL is given, a freshly created PostgreSQL database) seeded with ``seed.py``'s web chat
channel and FAQ agent, with the per-address stream cap out of the way (every stream comes from
127.0.0.1). Then, for each step of ``--steps`` (default 500 and 1,000 streams; 0 is always
measured first, as the baseline):

  open         more visitors open a session and an SSE stream each, until the step's count is
               open; ``--with-conversation`` (0.5) of them send one message and wait for its
               reply on their stream (their conversation exists, as after a chat), the rest
               stay fresh (no conversation yet, as a page just loaded);
  idle         nothing is sent for ``--idle`` (20) s: the server's CPU (psutil, % of one core),
               the load generator's and everything else's;
  /health      ``--health-requests`` (300) sequential GET /health on one keep-alive connection,
               ``--health-gap`` (10) ms apart → p50 / p99 / max.

Streams the server closed before the end count as "dropped" (none should be, with the default
idle timeout of several minutes). The baseline is the 0-stream step of the same run; the table
shows each step's /health p99 as a ratio to it.

On a machine with 2+ cores the server is pinned to CPU 0 and the load generator to CPU 1. Raises
this process's open-file limit to its hard limit (the server inherits it).

    .venv/bin/python bench/streams.py                          # SQLite (+ PostgreSQL if the env says so)
    .venv/bin/python bench/streams.py --no-postgres --steps 500,1000 --idle 20 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # run as a script: the helper modules sit beside it

from httpclient import RawClient, RawConnection  # noqa: E402
from pipeline import (  # noqa: E402
    LOADGEN_CPU,
    PG_ENV,
    BenchError,
    CpuMeter,
    Server,
    _ms,
    can_pin,
    fresh_postgres_database,
    frontdesk_argv,
    pct,
    run_async,
    server_env,
)
from seed import CHANNEL, KNOWLEDGE, write_config  # noqa: E402

CPU_TARGET_PCT = 5.0  # 1,000 idle streams
HEALTH_P99_TARGET_MS = 20.0
OPEN_CONCURRENCY = 50  # streams being opened at once
REPLY_TIMEOUT = 30.0


class Visitor:
    """One idle web chat visitor: a session and its SSE stream."""

    def __init__(self, client: RawClient, session: str) -> None:
        self.session = session
        self.replies = asyncio.Event()
        self.stream = client.sse(f"/webchat/{CHANNEL}/stream?session={session}", self._on_event)

    def _on_event(self, event: str, _data: str) -> None:
        if event == "message":
            self.replies.set()

    @property
    def dropped(self) -> bool:
        task = self.stream.task
        return task is not None and task.done()


class StreamsBench:
    def __init__(self, server: Server, args: argparse.Namespace) -> None:
        self.server = server
        self.args = args
        self.client = RawClient(server.url)
        self.visitors: list[Visitor] = []
        self.rng = random.Random(7)

    async def _open_one(self, setup: RawConnection) -> Visitor:
        status, body = await setup.request("POST", f"/webchat/{CHANNEL}/sessions", {})
        if status != 201:
            raise BenchError(f"POST /sessions answered {status}: {body[:300]!r}")
        visitor = Visitor(self.client, json.loads(body)["session"])
        await asyncio.wait_for(visitor.stream.connected.wait(), REPLY_TIMEOUT)
        if self.rng.random() < self.args.with_conversation:
            question = KNOWLEDGE[len(self.visitors) % len(KNOWLEDGE)][0]
            message = {"session": visitor.session, "text": question, "client_message_id": "m1"}
            status, body = await setup.request("POST", f"/webchat/{CHANNEL}/messages", message)
            if status != 202:
                raise BenchError(f"POST /messages answered {status}: {body[:300]!r}")
            await asyncio.wait_for(visitor.replies.wait(), REPLY_TIMEOUT)
        return visitor

    async def open_until(self, count: int) -> None:
        todo = count - len(self.visitors)
        conns = [self.client.connection() for _ in range(min(OPEN_CONCURRENCY, max(todo, 1)))]

        async def opener(conn: RawConnection, n: int) -> None:
            for _ in range(n):
                self.visitors.append(await self._open_one(conn))

        share = [todo // len(conns) + (i < todo % len(conns)) for i in range(len(conns))]
        try:
            await asyncio.gather(*(opener(c, n) for c, n in zip(conns, share, strict=True)))
        finally:
            for conn in conns:
                await conn.aclose()

    async def measure(self, streams: int) -> dict[str, Any]:
        await self.open_until(streams)
        await asyncio.sleep(2.0)  # let the last opens' turns and sends settle
        meter = CpuMeter(self.server.ps)
        meter.start()
        await asyncio.sleep(self.args.idle)
        cpu = meter.stop()
        latencies: list[float] = []
        conn = self.client.connection()
        try:
            for _ in range(self.args.health_requests):
                start = time.perf_counter()
                status, _ = await conn.request("GET", "/health")
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    raise BenchError(f"GET /health answered {status}")
                await asyncio.sleep(self.args.health_gap / 1000)
        finally:
            await conn.aclose()
        return {
            "streams": len(self.visitors),
            "dropped": sum(v.dropped for v in self.visitors),
            **cpu,
            "health_p50_ms": pct(latencies, 0.50),
            "health_p99_ms": pct(latencies, 0.99),
            "health_max_ms": pct(latencies, 1.0),
        }

    async def close(self) -> None:
        await asyncio.gather(*(v.stream.aclose() for v in self.visitors))


async def streams_load(server: Server, args: argparse.Namespace) -> list[dict[str, Any]]:
    bench = StreamsBench(server, args)
    try:
        return [await bench.measure(n) for n in [0, *args.steps]]
    finally:
        await bench.close()


def run_frontdesk(name: str, database_url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    workdir.mkdir(parents=True, exist_ok=True)
    env = server_env(database_url, Fernet.generate_key().decode(), None)
    seeded = subprocess.run(
        frontdesk_argv("config", "import", str(write_config(workdir / "bench.yaml"))),
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if seeded.returncode != 0:
        raise BenchError(f"frontdesk config import failed:\n{seeded.stdout}{seeded.stderr}")
    server = Server(f"frontdesk-{name}", frontdesk_argv("serve"), env, workdir, pin=args.pin)
    try:
        server.wait_ready()
        steps = run_async(streams_load(server, args))
    except BaseException:
        print(f"server log ({server.log_path}):\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
    return {"database": name, "steps": steps}


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchError(f"open-file limit {hard} is under the {needed} this run needs (ulimit -Hn)")


def render(results: dict[str, Any], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=args.json == "-", width=None if sys.stdout.isatty() else 120)
    for run in (results.get("sqlite"), results.get("postgresql")):
        if not run:
            continue
        steps = run["steps"]
        base = steps[0]
        table = Table(
            title=f"Idle web chat streams on one server process, {run['database']}: {args.idle:g} s idle, "
            f"{args.health_requests} GET /health",
            title_justify="left",
        )
        columns = ("streams", "CPU % of a core: server / load gen / other", "/health p50 / p99 / max ms")
        for column in (*columns, "p99 ÷ 0 streams", "dropped"):
            table.add_column(column, justify="right")
        for step in steps:
            ratio = step["health_p99_ms"] / base["health_p99_ms"] if base["health_p99_ms"] else 0.0
            table.add_row(
                str(step["streams"]),
                f"{step['server_cpu_pct']:.1f} / {step['loadgen_cpu_pct']:.0f} / {step['other_cpu_pct']:.0f}",
                f"{_ms(step['health_p50_ms'])} / {_ms(step['health_p99_ms'])} / {_ms(step['health_max_ms'])}",
                f"{ratio:.2f}",
                str(step["dropped"]),
            )
        console.print(table)
        console.print(
            f"targets at 1,000 streams: server CPU < {CPU_TARGET_PCT:g} % of a core, "
            f"/health p99 < {HEALTH_P99_TARGET_MS:g} ms, 0 dropped",
            style="dim",
        )
    if not args.pin:
        console.print("[yellow]server and load generator were not pinned to separate CPUs[/]")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", default="500,1000", help="stream counts to measure, ascending (500,1000)")
    p.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measurement per step (20)")
    p.add_argument("--health-requests", type=int, default=300, help="GET /health per step (300)")
    p.add_argument("--health-gap", type=float, default=10.0, help="ms between /health requests (10)")
    p.add_argument(
        "--with-conversation", type=float, default=0.5, help="share of streams that chat once first (0.5)"
    )
    p.add_argument(
        "--postgres",
        default=next((os.environ[k] for k in PG_ENV if os.environ.get(k)), None),
        help=f"PostgreSQL server URL; a fresh database is created on it (default: ${' or $'.join(PG_ENV)})",
    )
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    p.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON ('-': standard output)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server logs, SQLite file)")
    args = p.parse_args(argv)
    args.steps = sorted(int(s) for s in args.steps.split(",") if s.strip())
    args.pin = args.pin and can_pin()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pin:
        os.sched_setaffinity(0, {LOADGEN_CPU})  # children pin themselves to SERVER_CPU
    workdir = Path(tempfile.mkdtemp(prefix="fd-bench-streams-"))
    results: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "postgres"}}
    try:
        raise_fd_limit(max(args.steps) * 2 + 1000)  # this process's and the server's ends, and spare
        if not args.no_sqlite:
            print("frontdesk on SQLite ...", file=sys.stderr)
            url = f"sqlite+aiosqlite:///{workdir / 'sqlite' / 'frontdesk.db'}"
            results["sqlite"] = run_frontdesk("sqlite", url, workdir / "sqlite", args)
        if args.postgres and not args.no_postgres:
            print("frontdesk on PostgreSQL ...", file=sys.stderr)
            with fresh_postgres_database(args.postgres) as url:
                results["postgresql"] = run_frontdesk("postgresql", url, workdir / "postgresql", args)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    render(results, args)
    if args.json == "-":
        json.dump(results, sys.stdout, indent=2)
        print()
    elif args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
