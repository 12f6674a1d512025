"""Benchmark of the llm agent path: Frontdesk's own cost per turn, and throughput under a slow model.

Frontdesk runs in this process (a Runtime with its workers, on a fresh SQLite file, or PostgreSQL
with ``--postgres``); the model is the fake OpenAI-compatible server of the tests
(``tests/fakes/openai_server.py``) in its own process, answering ``final_answer`` after a fixed
delay. Each turn goes the real way: ingest (one transaction) → job queue → worker → llm agent
(prompt rendered from the business profile, history, two tools offered, pydantic-ai, HTTP to the
model) → answers, run trace and job completion in one transaction → notification.

  overhead     one conversation at a time, model answering at once: per turn, the time from
               ingest to the reply being committed minus the time spent in the model call (as
               Frontdesk's own recorder measured it, HTTP round trip included) = Frontdesk's cost.
               Targets: p50 ≤ 10 ms, p99 ≤ 50 ms.
  throughput   ``--conversations`` (200) conversations, each sending its next message as soon as
               the previous one is answered, model latency ``--latency`` (1 s), for ``--duration``
               seconds: turns/s against the ideal (conversations / latency). Target: ≥ 80 %.

    .venv/bin/python bench/agents.py
    .venv/bin/python bench/agents.py --turns 500 --conversations 200 --duration 20
    .venv/bin/python bench/agents.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO))

from pipeline import free_port, fresh_postgres_database, pct  # noqa: E402

FAKE_SERVER = """
import sys, uvicorn
from tests.fakes.openai_server import FakeOpenAI
fake = FakeOpenAI(latency=float(sys.argv[2]))
fake.handler = lambda body: fake.answer("Our packages start at 5,000 USD.", 0.9)
uvicorn.run(fake.app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""
PROFILE = {
    "description": "wedding planning in Springfield",
    "services": [{"name": "Full wedding package", "price": 5000, "currency": "USD", "duration_minutes": 90}],
    "hours": {"Monday-Friday": "9:00-17:00"},
    "location": "12 Harbour Street, Springfield",
}


class BenchError(Exception):
    pass


def cpu_seconds() -> float:
    """CPU time of this process (Frontdesk and the load generator; the fake model runs apart)."""
    times = os.times()
    return times.user + times.system


@contextlib.contextmanager
def fake_model(latency: float) -> Iterator[str]:
    """The fake model server in a process of its own; yields its base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", FAKE_SERVER, str(port), str(latency)]
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"fake model server did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


async def setup(rt: Any, prefix: str, base_url: str) -> Any:
    """An llm agent answering a web chat channel through ``base_url``; the channel."""
    from frontdesk.security.tokens import SYSTEM

    agent_id, channel_id = f"{prefix}_llm", f"{prefix}_web"
    config = {
        "base_url": base_url,
        "model": "fake-model",
        "tools": ["search_knowledge", "handoff_to_human"],
        "max_retries": 1,
        "timeout_seconds": 30,
    }
    await rt.config.create(
        "agent",
        {"agent_id": agent_id, "agent_name": "Ava", "kind": "llm", "config": config},
        principal=SYSTEM,
    )
    await rt.config.create(
        "channel",
        {"channel_id": channel_id, "channel_name": "Chat", "channel_type": "webchat", "provider": "webchat"},
        principal=SYSTEM,
    )
    await rt.config.create(
        "mapping", {"agent_id": agent_id, "channel_id": channel_id, "is_primary": True}, principal=SYSTEM
    )
    return await rt.cache.channel(channel_id)


class Conversation:
    """One customer: sends a message, waits until the turn answering it is committed."""

    def __init__(self, rt: Any, channel: Any, sender: str) -> None:
        self.rt, self.channel, self.sender = rt, channel, sender
        self.sent = 0

    async def turn(self) -> tuple[float, str]:
        """(seconds from ingest to the reply, conversation id)."""
        from frontdesk.model.messages import InboundMessage

        self.sent += 1
        message = InboundMessage(f"{self.sender}-{self.sent}", self.sender, "How much is a wedding package?")
        started = time.perf_counter()
        stored = await self.rt.ingest.message(self.channel, message)
        # Subscribed after the ingest: a turn that already finished is found by the first read.
        with self.rt.notifier.subscribe(stored.conversation_id) as event:
            await self._answered(stored.message_id, event)
        return time.perf_counter() - started, stored.conversation_id

    async def _answered(self, message_id: int, event: asyncio.Event) -> None:
        import sqlalchemy as sa

        from frontdesk.store.tables import messages

        query = sa.select(messages.c.turn_id).where(messages.c.id == message_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if await self.rt.db.run_read(lambda conn: conn.execute(query).scalar()) is not None:
                return
            await self.rt.notifier.wait(event, 0.5)
        raise BenchError(f"message {message_id} not answered within 60 s")


async def last_run(rt: Any, conversation_id: str) -> tuple[float, float, str]:
    """The latest run of the conversation: (its latency, the model's part of it, in ms; status)."""
    import sqlalchemy as sa

    from frontdesk.store.runs import agent_runs

    r = agent_runs.c
    query = (
        sa.select(r.latency_ms, r.model_latency_ms, r.status)
        .where(r.conversation_id == conversation_id)
        .order_by(r.started_at.desc())
        .limit(1)
    )
    row = await rt.db.run_read(lambda conn: conn.execute(query).one())
    return row.latency_ms, row.model_latency_ms, row.status


async def failed_runs(rt: Any, channel_id: str) -> int:
    """Turns of the channel's agent that ended with the fallback (counted above all the same)."""
    import sqlalchemy as sa

    from frontdesk.store.runs import agent_runs

    query = sa.select(sa.func.count()).where(
        agent_runs.c.agent_id == channel_id.replace("_web", "_llm"), agent_runs.c.status != "ok"
    )
    return await rt.db.run_read(lambda conn: conn.execute(query).scalar() or 0)


async def overhead(rt: Any, channel: Any, turns: int) -> dict[str, Any]:
    customers = [Conversation(rt, channel, f"ov-{i}") for i in range(10)]
    for c in customers:  # warm-up: conversations, model client, caches
        await c.turn()
    totals, models, costs, agent_side = [], [], [], []
    cpu = cpu_seconds()
    for i in range(turns):
        total, conversation_id = await customers[i % len(customers)].turn()
        run_ms, spent, status = await last_run(rt, conversation_id)
        if status != "ok":
            raise BenchError(f"a turn failed ({status}); see the agent_runs table")
        agent_side.append((run_ms - spent) / 1000)
        totals.append(total)
        models.append(spent / 1000)
        costs.append(max(0.0, total - spent / 1000))
    cpu = cpu_seconds() - cpu
    return {
        "turns": turns,
        "cpu_ms_per_turn": round(cpu / turns * 1000, 2),
        "overhead_p50_ms": pct(costs, 0.5),
        "overhead_p99_ms": pct(costs, 0.99),
        "total_p50_ms": pct(totals, 0.5),
        "total_p99_ms": pct(totals, 0.99),
        "model_p50_ms": pct(models, 0.5),
        # Of the overhead: inside the agent run (pydantic-ai, prompt, tools, trace) and around it
        # (ingest, queue, history, the turn's transaction, the notification).
        "agent_run_p50_ms": pct(agent_side, 0.5),
    }


async def throughput(rt: Any, channel: Any, conversations: int, duration: float, latency: float) -> dict:
    customers = [Conversation(rt, channel, f"tp-{i}") for i in range(conversations)]
    await asyncio.gather(*(c.turn() for c in customers))  # warm-up: every conversation exists
    done: list[float] = []
    took: list[float] = []
    cpu = cpu_seconds()
    start = time.perf_counter()
    stop = start + duration

    async def loop(c: Conversation) -> None:
        while time.perf_counter() < stop:
            seconds, _ = await c.turn()
            done.append(time.perf_counter())
            took.append(seconds)

    await asyncio.gather(*(loop(c) for c in customers))
    cpu = cpu_seconds() - cpu
    completed = sum(1 for t in done if t <= stop)
    failed = await failed_runs(rt, channel.channel_id)
    rate = completed / duration
    ideal = conversations / latency
    return {
        "conversations": conversations,
        "turns_per_s": round(rate, 1),
        "ideal_per_s": ideal,
        "fraction_of_ideal": round(rate / ideal, 3),
        "cpu_ms_per_turn": round(cpu / len(done) * 1000, 2) if done else None,
        "cores_used": round(cpu / (time.perf_counter() - start), 2),
        # Per turn, ingest to reply committed, model latency included: what is above it is waiting.
        "turn_p50_ms": pct(took, 0.5),
        "turn_p99_ms": pct(took, 0.99),
        "failed_turns": failed,
    }


async def run(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    from frontdesk.observability.logging import configure_logging
    from frontdesk.runtime import Runtime
    from frontdesk.settings import Settings

    settings = Settings(
        database_url=database_url,
        secret_key=Fernet.generate_key().decode(),
        workers=args.workers,
        db_pool_size=args.db_pool_size,
        http_actions_allow="127.0.0.1",
        log_level="WARNING",
    )
    configure_logging(settings)  # WARNING: the per-step [TRACE] lines are INFO
    rt = Runtime(settings)
    await rt.start()
    try:
        from frontdesk.security.tokens import SYSTEM

        await rt.config.update("tenant", "default", {"business_profile": PROFILE}, principal=SYSTEM)
        with fake_model(0.0) as fast_url, fake_model(args.latency) as slow_url:
            fast = await setup(rt, "fast", fast_url)
            slow = await setup(rt, "slow", slow_url)
            print(f"  overhead: {args.turns} turns, model answering at once ...", file=sys.stderr)
            out = {"overhead": await overhead(rt, fast, args.turns)}
            print(
                f"  throughput: {args.conversations} conversations, model latency {args.latency:g} s, "
                f"{args.duration:g} s ...",
                file=sys.stderr,
            )
            out["throughput"] = await throughput(rt, slow, args.conversations, args.duration, args.latency)
        return out
    finally:
        await rt.stop()


def render(name: str, result: dict[str, Any]) -> None:
    o, t = result["overhead"], result["throughput"]
    verdict = "ok" if o["overhead_p50_ms"] <= 10 and o["overhead_p99_ms"] <= 50 else "MISSED"
    print(f"{name}:")
    print(
        f"  Frontdesk overhead per turn ({o['turns']} turns): p50 {o['overhead_p50_ms']:.2f} ms, "
        f"p99 {o['overhead_p99_ms']:.2f} ms  [target p50 ≤ 10, p99 ≤ 50: {verdict}]"
    )
    print(
        f"    (turn total p50 {o['total_p50_ms']:.2f} ms, p99 {o['total_p99_ms']:.2f} ms; "
        f"model call p50 {o['model_p50_ms']:.2f} ms; CPU {o['cpu_ms_per_turn']:.2f} ms per turn)"
    )
    print(
        f"    (of the overhead, p50 {o['agent_run_p50_ms']:.2f} ms inside the agent run: pydantic-ai, "
        "prompt, tools, trace; the rest is ingest, queue, history, the turn's write)"
    )
    verdict = "ok" if t["fraction_of_ideal"] >= 0.8 else "MISSED"
    print(
        f"  Throughput, {t['conversations']} conversations, slow model: {t['turns_per_s']} turns/s = "
        f"{t['fraction_of_ideal'] * 100:.1f} % of the ideal {t['ideal_per_s']:g}/s [target ≥ 80 %: {verdict}]"
    )
    print(
        f"    (CPU {t['cpu_ms_per_turn']} ms per turn, {t['cores_used']} cores busy; one process can do at "
        f"most about {1000 / t['cpu_ms_per_turn']:.0f} turns/s per core it gets)"
        if t["cpu_ms_per_turn"]
        else "    (no turn completed)"
    )
    print(f"    (turn, model latency included: p50 {t['turn_p50_ms']:.1f} ms, p99 {t['turn_p99_ms']:.1f} ms)")
    if t["failed_turns"]:
        print(f"  ({t['failed_turns']} of those turns fell back: see the agent_runs table)")
    print(f"  machine load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--turns", type=int, default=300, help="overhead phase: sequential turns (300)")
    p.add_argument("--conversations", type=int, default=200, help="throughput phase: conversations (200)")
    p.add_argument("--latency", type=float, default=1.0, help="throughput phase: model latency, s (1.0)")
    p.add_argument("--duration", type=float, default=15.0, help="throughput phase: seconds (15)")
    p.add_argument("--workers", type=int, default=240, help="FRONTDESK_WORKERS (240: above --conversations)")
    p.add_argument("--db-pool-size", type=int, default=10, help="FRONTDESK_DB_POOL_SIZE (PostgreSQL; 10)")
    p.add_argument("--postgres", metavar="URL", help="also run on a fresh database of this PostgreSQL server")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fd-bench-agents-") as tmp:
        try:
            print("frontdesk on SQLite ...", file=sys.stderr)
            results["sqlite"] = asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/frontdesk.db", args))
            if args.postgres:
                print("frontdesk on PostgreSQL ...", file=sys.stderr)
                with fresh_postgres_database(args.postgres) as url:
                    results["postgresql"] = asyncio.run(run(url, args))
        except BenchError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
    for name, result in results.items():
        render(name, result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
