"""Webhook acceptance benchmark: signed WhatsApp webhooks → verified, parsed, stored and enqueued.

Starts ONE real ``frontdesk serve`` process on a fresh database (SQLite in a temp dir, then, if a
PostgreSQL URL is given, a freshly created PostgreSQL database), seeds it with ``frontdesk config
import`` (the FAQ agent and knowledge of ``seed.py``, a Meta WhatsApp channel whose
``api_base_url`` is a closed local port, and its mapping) and posts signed WhatsApp Cloud API
webhooks to ``POST /webhooks/meta``: the recorded fixture
``tests/fixtures/providers/meta_whatsapp/inbound_text.json`` with a unique wamid per message, one
of ``--senders`` customers and a question of the knowledge base. Every request (headers, body,
``X-Hub-Signature-256``) is built before the phase that sends it, so the load generator only writes
bytes and reads the answers, on ``--connections`` keep-alive connections.

The primary figures are for acceptance only (``FRONTDESK_RUN_WORKERS=false``): a 200 means the
webhook was verified, parsed, durably stored and its conversation's turn enqueued; no turn runs.
Phases, per database:
  warm-up      one webhook per sender (creates the contacts and conversations);
  saturation   closed loop: every connection posts its next webhook as soon as the last is
               answered, for ``--duration`` s → accepted webhooks/s, ack p50/p99;
  fixed rate   open loop: ``--rate`` webhooks/s for ``--rate-duration`` s over the same
               connections → ack p50/p99/max, counted from each webhook's *scheduled* time (a
               stalled server or a wait for a free connection shows up: no coordinated omission).
After each phase the database is read directly: the inbound rows must equal the webhooks accepted
so far, and (workers off) every conversation with inbound messages must have a queued job.

Secondary figure, labelled as such: the same saturation phase on another fresh database with the
workers on and ``FRONTDESK_MOCK_PROVIDERS=true`` (turns run and their answers are recorded, not
sent), so acceptance competes with the turns for the server's core.

The baseline, measured in the same run with the same load generator, requests and connections: a
bare Starlette endpoint (``bench/baseline_app.py``: parse the JSON body, answer) under uvicorn,
closed loop.

On a machine with 2+ cores the server is pinned to CPU 0 and the load generator to CPU 1.

    .venv/bin/python bench/webhooks.py                        # SQLite (+ PostgreSQL if the env says so)
    .venv/bin/python bench/webhooks.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/webhooks.py --no-postgres --duration 10 --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # run as a script: the helper modules sit beside it

from httpclient import HttpError, RawClient, RawConnection  # noqa: E402
from pipeline import (  # noqa: E402
    LOADGEN_CPU,
    PG_ENV,
    REPO,
    BenchError,
    CpuMeter,
    RssSampler,
    Server,
    _cpu,
    _ms,
    can_pin,
    free_port,
    fresh_postgres_database,
    frontdesk_argv,
    pct,
    run_async,
    server_env,
)
from seed import AGENT, KNOWLEDGE, TENANT, config_document  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "providers" / "meta_whatsapp" / "inbound_text.json"
CHANNEL = "bench-whatsapp"
PHONE_NUMBER_ID = "1122334455667"  # the fixture's metadata.phone_number_id: the channel's routing key
BUSINESS_NUMBER = "+972123456789"  # the fixture's display_phone_number
WEBHOOK_PATH = "/webhooks/meta"
BASELINE_PATH = "/webchat/bench-whatsapp/messages"  # baseline_app.py's one POST route
PREBUILD_RATE = 8000  # saturation: webhooks built ahead per second of --duration (more are built late)
TARGETS = {"sqlite": 2000.0, "postgresql": 1500.0}  # accepted webhooks/s at saturation
PEER_TARGET = 1.0  # known senders ÷ the pywa bot
NEW_SENDERS_TARGET = 0.7  # new senders ÷ known senders
POSTGRES_TARGET = 0.6  # PostgreSQL known senders ÷ SQLite
ACK_P99_TARGET_MS = 50.0  # at --rate (500/s)
PHASE_TIMEOUT = 30.0  # a request in flight this long after a phase ended means the server is stuck


# ------------------------------------------------------------------------------------ the config


def bench_config(app_secret: str, api_base_url: str) -> dict[str, Any]:
    """seed.py's tenant, FAQ agent and knowledge, with a Meta WhatsApp channel instead of web chat."""
    doc = config_document()
    doc["channels"] = [
        {
            "channel_id": CHANNEL,
            "channel_name": "Bench WhatsApp",
            "channel_type": "whatsapp",
            "provider": "meta",
            "tenant_id": TENANT,
            "phone_number": BUSINESS_NUMBER,
            "routing_key": PHONE_NUMBER_ID,
            "credentials": {
                "access_token": "bench-access-token",
                "app_secret": app_secret,
                "verify_token": "bench-verify-token",
            },
            # Nothing listens there: a send that escaped mock mode fails instead of leaving the machine.
            "settings": {"api_base_url": api_base_url},
        }
    ]
    doc["mappings"] = [
        {
            "mapping_id": "bench-whatsapp-mapping",
            "agent_id": AGENT,
            "channel_id": CHANNEL,
            "tenant_id": TENANT,
            "is_primary": True,
        }
    ]
    return doc


# ------------------------------------------------------------------------------------- requests


class Webhooks:
    """Signed WhatsApp text webhooks, each a complete HTTP/1.1 request, numbered from 0.

    The body is the recorded fixture with its wamid, sender (``from`` and ``contacts[0].wa_id``),
    the sender's business-scoped user id (``contacts[0].user_id``, one per sender as on WhatsApp; no
    parent id), profile name, timestamp and text replaced; message ``n`` comes from sender ``n % senders``
    (with ``new_senders``: from sender ``senders + n``, whom no earlier message came from) and asks
    knowledge entry ``(n // senders) % len(KNOWLEDGE)``.
    """

    def __init__(
        self, host: str, port: int, path: str, app_secret: str, senders: int, new_senders: bool = False
    ) -> None:
        doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
        value = doc["entry"][0]["changes"][0]["value"]
        value["contacts"][0].update(profile={"name": "@@name@@"}, wa_id="@@sender@@", user_id="@@bsuid@@")
        value["contacts"][0].pop("parent_user_id", None)
        value["messages"][0].update(
            {"from": "@@sender@@", "id": "@@wamid@@", "timestamp": "@@ts@@", "text": {"body": "@@text@@"}}
        )
        template = json.dumps(doc).replace("{", "{{").replace("}", "}}")
        for name in ("name", "sender", "bsuid", "wamid", "ts", "text"):
            template = template.replace(f'"@@{name}@@"', "{" + name + "}")
        self._template = template
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "User-Agent: facebookexternalua\r\n"
        )
        self._secret = app_secret.encode()
        self._questions = [json.dumps(q) for q, _, _ in KNOWLEDGE]
        self.senders = senders
        self.new_senders = new_senders  # message n from sender senders + n: never seen before
        self._run = secrets.token_hex(4)  # wamids differ between runs on the same database
        self._ts = json.dumps(str(int(time.time())))

    def build(self, n: int) -> bytes:
        s = self.senders + n if self.new_senders else n % self.senders
        body = self._template.format(
            name=json.dumps(f"Bench Customer {s}"),
            sender=json.dumps(f"9725{s:08d}"),
            bsuid=json.dumps(f"IL.{s:020d}"),
            wamid=json.dumps(f"wamid.bench-{self._run}-{n:09d}"),
            ts=self._ts,
            text=self._questions[(n // self.senders) % len(self._questions)],
        ).encode()
        signature = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        head = f"{self._head}X-Hub-Signature-256: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body


class Cycle:
    """The baseline's feed: a few thousand requests over and over (it stores nothing)."""

    def __init__(self, webhooks: Webhooks, count: int) -> None:
        self._items = [webhooks.build(n) for n in range(count)]
        self._next = 0
        self.built_late = 0

    def take(self) -> bytes | None:
        self._next += 1
        return self._items[self._next % len(self._items)]


class Feed:
    """The requests of one phase, built before it starts; ``take()`` is None once ``limit`` are out.

    If a phase outruns what was built ahead (saturation beyond PREBUILD_RATE/s), the rest are built
    on the spot and counted in ``built_late``.
    """

    def __init__(self, webhooks: Webhooks, first: int, ahead: int, limit: int | None = None) -> None:
        self.webhooks, self.next, self.limit = webhooks, first, limit
        self._ready = [webhooks.build(n) for n in range(first, first + ahead)]
        self._ready.reverse()  # pop() from the end
        self.built_late = 0

    def take(self) -> bytes | None:
        if self.limit is not None and self.limit <= 0:
            return None
        if self.limit is not None:
            self.limit -= 1
        self.next += 1
        if self._ready:
            return self._ready.pop()
        self.built_late += 1
        return self.webhooks.build(self.next - 1)


# ------------------------------------------------------------------------------------ measuring


@dataclass
class Phase:
    """What one phase measured. Times are perf_counter() seconds."""

    name: str
    expect: int  # the status of an accepted request: 200 (Frontdesk) or 202 (baseline)
    started: float = 0.0
    ended: float = 0.0  # end of the measured window (closed loop) or of the sending (open loop)
    sent: int = 0
    last_send: float = 0.0
    accepted: int = 0  # every answer with the expected status
    accepted_in_window: int = 0  # ... received between started and ended
    acks: list[float] = field(default_factory=list)  # send (or scheduled send) → accepted answer
    statuses: Counter = field(default_factory=Counter)  # the other statuses (0: no answer)
    not_stored: int = 0  # 200s whose receipt does not say "stored": 1 (e.g. duplicates)
    sample_error: str = ""
    built_late: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, status: int, body: bytes, started: float, check_receipt: bool) -> None:
        now = time.perf_counter()
        if status != self.expect:
            self.statuses[status] += 1
            self.sample_error = self.sample_error or f"{status}: {body[:300]!r}"
            return
        self.accepted += 1
        self.accepted_in_window += self.started <= now <= self.ended
        self.acks.append(now - started)
        if check_receipt:
            try:
                stored = json.loads(body).get("stored")
            except ValueError:
                stored = None
            if stored != 1:
                self.not_stored += 1
                self.sample_error = self.sample_error or f"{status}: {body[:300]!r}"

    def summary(self) -> dict[str, Any]:
        span = max(self.ended - self.started, 1e-9)
        send_span = max(self.last_send - self.started, 1e-9)
        return {
            "seconds": round(span, 2),
            "sent": self.sent,
            "accepted": self.accepted,
            "send_rate": round(self.sent / send_span, 1) if self.sent else 0.0,
            "accepted_per_s": round(self.accepted_in_window / span, 1),
            "ack_p50_ms": pct(self.acks, 0.50),
            "ack_p99_ms": pct(self.acks, 0.99),
            "ack_max_ms": pct(self.acks, 1.0),
            "errors": sum(self.statuses.values()),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "not_stored": self.not_stored,
            "sample_error": self.sample_error or None,
            "built_late": self.built_late,
            **self.cpu,
            # Server CPU time per accepted webhook: unlike webhooks/s, hardly moved by other load.
            "server_cpu_ms_per_webhook": round(
                self.cpu.get("server_cpu_pct", 0.0) * 10 * span / max(self.accepted_in_window, 1), 3
            ),
            **self.extra,
        }


async def post(conn: RawConnection, data: bytes) -> tuple[int, bytes]:
    try:
        return await conn.send(data)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HttpError, ValueError) as exc:
        await conn.aclose()  # the next request reconnects
        return 0, repr(exc).encode()


async def closed_loop(
    conns: list[RawConnection],
    feed: Feed | Cycle,
    phase: Phase,
    seconds: float | None,
    cpu: CpuMeter | None = None,
    check_receipt: bool = True,
) -> Phase:
    """Every connection posts its next request as soon as the last is answered, until ``seconds``
    have passed (or the feed is empty). Throughput counts the answers received within that time."""
    if cpu is not None:
        cpu.start()
    phase.started = time.perf_counter()
    stop_at = phase.started + seconds if seconds is not None else math.inf
    phase.ended = stop_at

    async def loop(conn: RawConnection) -> None:
        while time.perf_counter() < stop_at and (data := feed.take()) is not None:
            phase.sent += 1
            start = phase.last_send = time.perf_counter()
            status, body = await post(conn, data)
            phase.record(status, body, start, check_receipt)

    tasks = [asyncio.create_task(loop(c)) for c in conns]
    if seconds is not None:
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        if cpu is not None:
            phase.cpu = cpu.stop()  # CPU figures: the measured window only
    done, pending = await asyncio.wait(tasks, timeout=(seconds or 0) + PHASE_TIMEOUT)
    for task in pending:
        task.cancel()
    if pending:
        raise BenchError(
            f"{phase.name}: {len(pending)} requests unanswered {PHASE_TIMEOUT:.0f}s after the end"
        )
    for task in done:
        task.result()
    if seconds is None:
        phase.ended = time.perf_counter()
        if cpu is not None:
            phase.cpu = cpu.stop()
    phase.built_late = feed.built_late
    return phase


async def open_loop(
    conns: list[RawConnection], feed: Feed, phase: Phase, rate: float, seconds: float, cpu: CpuMeter
) -> Phase:
    """A request every 1/rate s on the first free connection; each latency counts from its
    scheduled time, waiting for a free connection included."""
    idle: asyncio.Queue[RawConnection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    total = int(rate * seconds)
    requests = [feed.take() for _ in range(total)]

    async def one(at: float, data: bytes) -> None:
        conn = await idle.get()
        try:
            status, body = await post(conn, data)
        finally:
            idle.put_nowait(conn)
        phase.record(status, body, at, check_receipt=True)

    cpu.start()
    phase.started = time.perf_counter()
    phase.ended = math.inf
    start = phase.started + 0.01
    tasks: set[asyncio.Task] = set()
    for i, data in enumerate(requests):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        assert data is not None
        phase.sent += 1
        phase.last_send = time.perf_counter()
        task = asyncio.create_task(one(at, data))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    pending: set[asyncio.Task] = set()
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=PHASE_TIMEOUT)
    phase.ended = time.perf_counter()
    phase.cpu = cpu.stop()
    for task in pending:
        task.cancel()
    if pending:
        raise BenchError(
            f"{phase.name}: {len(pending)} requests unanswered {PHASE_TIMEOUT:.0f}s after the end"
        )
    phase.built_late = feed.built_late
    return phase


# ------------------------------------------------------------------------------ database checks


def sync_url(database_url: str) -> str:
    return database_url.replace("sqlite+aiosqlite://", "sqlite://", 1)


def count_rows(database_url: str) -> dict[str, int]:
    """Read the server's database directly: inbound messages, conversations, queued jobs, and the
    conversations with inbound messages but no queued or running job."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    queries = {
        "inbound": "SELECT count(*) FROM messages WHERE direction = 'in'",
        "conversations": "SELECT count(*) FROM conversations",
        "queued_jobs": "SELECT count(*) FROM jobs WHERE status = 'queued'",
        "without_job": (
            "SELECT count(*) FROM conversations c WHERE EXISTS (SELECT 1 FROM messages m"
            " WHERE m.conversation_id = c.conversation_id AND m.direction = 'in') AND NOT EXISTS"
            " (SELECT 1 FROM jobs j WHERE j.lock = c.conversation_id AND j.status IN ('queued', 'running'))"
        ),
    }
    engine = sa.create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {name: int(conn.execute(sa.text(sql)).scalar_one()) for name, sql in queries.items()}
    finally:
        engine.dispose()


class Ledger:
    """Webhooks accepted so far against the inbound rows in the database, checked after each phase."""

    def __init__(self, database_url: str, workers: bool) -> None:
        self.database_url, self.workers = database_url, workers
        self.accepted = 0
        self.checks: list[dict[str, Any]] = []

    async def check(self, phase: Phase) -> None:
        self.accepted += phase.accepted - phase.not_stored
        rows = await asyncio.to_thread(count_rows, self.database_url)
        ok = rows["inbound"] == self.accepted and (self.workers or rows["without_job"] == 0)
        check = {"after": phase.name, "accepted_so_far": self.accepted, **rows, "ok": ok}
        self.checks.append(check)
        phase.extra["db_check"] = check
        if not ok:
            print(f"  !! database check failed after {phase.name}: {check}", file=sys.stderr)


# -------------------------------------------------------------------------------------- py-spy


def py_spy_binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def start_py_spy(args: argparse.Namespace, server: Server, label: str) -> subprocess.Popen | None:
    """Optionally sample the server with py-spy for the length of a saturation phase."""
    if not args.py_spy:
        return None
    suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[args.py_spy_format]
    out = Path(args.py_spy) / f"{server.name}-{label}.{suffix}"
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(py_spy_binary()), "record", "--pid", str(server.proc.pid), "--rate", "100"]
    argv += ["--nonblocking", "--format", args.py_spy_format, "--duration", str(math.ceil(args.duration))]
    return subprocess.Popen(
        [*argv, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop_py_spy(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        try:
            proc.wait(60)  # a busy machine puts py-spy behind: it writes its output late
        except subprocess.TimeoutExpired:
            print("py-spy did not finish: no profile", file=sys.stderr)
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------------------------------- loads


async def health(server: Server) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=server.url) as http:
        return (await http.get("/health")).json()


async def frontdesk_load(
    server: Server, database_url: str, app_secret: str, workers: bool, args: argparse.Namespace
) -> dict[str, Any]:
    client = RawClient(server.url)
    conns = [client.connection() for _ in range(args.connections)]
    webhooks = Webhooks(client.host, client.port, WEBHOOK_PATH, app_secret, args.senders)
    cpu = CpuMeter(server.ps)
    ledger = Ledger(database_url, workers)
    rss = RssSampler(server.ps)
    result: dict[str, Any] = {}
    n = 0
    try:
        # Warm-up: every sender once (new contacts and conversations), then the keep-alive
        # connections are open and the routing cache is warm.
        feed = Feed(webhooks, n, args.senders, limit=args.senders)
        warm = await closed_loop(conns, feed, Phase("warm-up", 200), None, cpu)
        n = feed.next
        await ledger.check(warm)
        if warm.accepted != args.senders:
            raise BenchError(
                f"warm-up: {warm.accepted} of {args.senders} webhooks accepted; {warm.sample_error}"
            )
        result["warm_up"] = warm.summary()

        before = (await health(server)).get("workers", {})
        feed = Feed(webhooks, n, math.ceil(args.duration * PREBUILD_RATE))
        spy = start_py_spy(args, server, "saturation")
        saturation = await closed_loop(conns, feed, Phase("saturation", 200), args.duration, cpu)
        await asyncio.to_thread(stop_py_spy, spy)
        n = feed.next
        after = await health(server)
        await ledger.check(saturation)
        if workers:
            processed = after["workers"].get("processed", 0) - before.get("processed", 0)
            saturation.extra.update(
                turns_processed=processed,
                turns_failed=after["workers"].get("failed", 0) - before.get("failed", 0),
                queue_after=after.get("queue", {}),
            )
        result["saturation"] = saturation.summary()

        if args.senders_new and not workers:
            # Every request a first message: a new contact and conversation inside the write batch.
            fresh = Webhooks(
                client.host, client.port, WEBHOOK_PATH, app_secret, args.senders, new_senders=True
            )
            await asyncio.sleep(1.0)
            feed = Feed(fresh, n, math.ceil(args.duration * PREBUILD_RATE))
            spy = start_py_spy(args, server, "new-senders")
            phase = await closed_loop(conns, feed, Phase("new senders", 200), args.duration, cpu)
            await asyncio.to_thread(stop_py_spy, spy)
            n = feed.next
            await ledger.check(phase)
            result["new_senders"] = phase.summary()

        if not workers:
            await asyncio.sleep(1.0)  # let the server settle
            feed = Feed(webhooks, n, math.ceil(args.rate * args.rate_duration))
            phase = Phase(f"fixed rate {args.rate:g}/s", 200)
            fixed = await open_loop(conns, feed, phase, args.rate, args.rate_duration, cpu)
            n = feed.next
            await ledger.check(fixed)
            result["fixed_rate"] = fixed.summary()
    finally:
        for conn in conns:
            await conn.aclose()
        await rss.stop()
    final = await health(server)
    result.update(
        rss_idle_mb=round(rss.first / 2**20, 1),
        rss_peak_mb=round(rss.peak / 2**20, 1),
        db_checks=ledger.checks,
        db_ok=all(c["ok"] for c in ledger.checks),
        workers=final.get("workers", {}),
        queue=final.get("queue", {}),
    )
    return result


async def baseline_load(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """The bare endpoint: the same requests (to its path), connections and closed loop."""
    client = RawClient(server.url)
    webhooks = Webhooks(client.host, client.port, BASELINE_PATH, "baseline", args.senders)
    feed = Cycle(webhooks, 5000)
    return await endpoint_load(server, args, feed, feed, 202)


async def peer_load(server: Server, args: argparse.Namespace, app_secret: str) -> dict[str, Any]:
    """The peer bot: Frontdesk's own signed requests (unique wamids: pywa drops repeats unread)."""
    client = RawClient(server.url)
    webhooks = Webhooks(client.host, client.port, WEBHOOK_PATH, app_secret, args.senders)
    warm = Feed(webhooks, 0, args.senders, limit=args.senders)
    return await endpoint_load(
        server, args, warm, Feed(webhooks, args.senders, math.ceil(args.duration * PREBUILD_RATE)), 200
    )


async def endpoint_load(
    server: Server, args: argparse.Namespace, warm: Feed | Cycle, feed: Feed | Cycle, expect: int
) -> dict[str, Any]:
    """A warm-up, then ``--duration`` s closed loop: requests/s, CPU per request, latency."""
    client = RawClient(server.url)
    conns = [client.connection() for _ in range(args.connections)]
    cpu = CpuMeter(server.ps)
    try:
        await closed_loop(conns, warm, Phase(f"{server.name} warm-up", expect), 1.0, check_receipt=False)
        phase = await closed_loop(
            conns, feed, Phase(server.name, expect), args.duration, cpu, check_receipt=False
        )
    finally:
        for conn in conns:
            await conn.aclose()
    figures = phase.summary()
    return {
        "requests_per_s": figures["accepted_per_s"],
        "server_cpu_us_per_req": round(figures["server_cpu_ms_per_webhook"] * 1000, 1),
        "p50_ms": figures["ack_p50_ms"],
        "p99_ms": figures["ack_p99_ms"],
        "errors": figures["errors"],
        "built_late": figures["built_late"],
        **phase.cpu,
    }


# ----------------------------------------------------------------------------------------- runs


def seed(env: dict[str, str], workdir: Path, app_secret: str) -> None:
    path = workdir / "bench.yaml"
    doc = bench_config(app_secret, f"http://127.0.0.1:{free_port()}")
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    seeded = subprocess.run(
        frontdesk_argv("config", "import", str(path)),
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if seeded.returncode != 0:
        raise BenchError(f"frontdesk config import failed:\n{seeded.stdout}{seeded.stderr}")


def run_frontdesk(
    name: str, database_url: str, workdir: Path, workers: bool, args: argparse.Namespace
) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    workdir.mkdir(parents=True, exist_ok=True)
    env = server_env(database_url, Fernet.generate_key().decode(), args.workers)
    env["FRONTDESK_RUN_WORKERS"] = "true" if workers else "false"
    if workers:
        env["FRONTDESK_MOCK_PROVIDERS"] = "true"  # answers recorded in mock_sends, never sent
    app_secret = secrets.token_hex(16)
    seed(env, workdir, app_secret)
    label = f"frontdesk-{name}" + ("-workers" if workers else "")
    server = Server(label, frontdesk_argv("serve"), env, workdir, pin=args.pin)
    try:
        server.wait_ready()
        result = run_async(frontdesk_load(server, database_url, app_secret, workers, args))
    except BaseException:
        print(f"server log ({server.log_path}):\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
    result["database"] = name
    return result


def run_database(name: str, url_of: Callable[[str], Any], workdir: Path, args: argparse.Namespace) -> dict:
    """The acceptance run, then (unless --no-workers-run) the run with workers, each on a fresh database."""
    with url_of("acceptance") as url:
        print(f"frontdesk on {name}, workers off ...", file=sys.stderr)
        result = run_frontdesk(name, url, workdir / name, False, args)
    if not args.no_workers_run:
        with url_of("workers") as url:
            print(f"frontdesk on {name}, workers on, mock providers ...", file=sys.stderr)
            result["with_workers"] = run_frontdesk(name, url, workdir / f"{name}-workers", True, args)
    return result


def run_baseline(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "baseline_app:app"]
    argv += ["--log-level", "warning", "--no-access-log"]  # as `frontdesk serve` runs uvicorn
    server = Server("baseline", argv, dict(os.environ), workdir, pin=args.pin)
    try:
        server.wait_ready()
        return run_async(baseline_load(server, args))
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------- peers

PYWA = "pywa==4.5.*"  # the peer of the measurement: pywa 4.5, async, on FastAPI
# Installed into the peer's environment at the versions this interpreter has, so that the peer and
# Frontdesk run on the same web stack (the same uvicorn with the same loop and HTTP parser).
SHARED_STACK = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic")


def peer_python(venv: Path) -> Path:
    """The peer's own virtual environment (created, and pywa installed, on first use)."""
    from importlib import metadata

    python = venv / "bin" / "python"
    pins = [PYWA]
    for name in SHARED_STACK:
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.append(f"{name}=={metadata.version(name)}")
    stamp = venv / "frontdesk-bench-pins.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(pins):
        return python
    print(f"peer: installing {', '.join(pins)} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        raise BenchError(f"pip install into {venv} failed:\n{installed.stdout}{installed.stderr}")
    stamp.write_text("\n".join(pins))
    return python


def run_peer(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    python = peer_python(Path(args.peer_venv))
    app_secret = secrets.token_hex(16)
    env = dict(os.environ, BENCH_APP_SECRET=app_secret, BENCH_WEBHOOK_PATH=WEBHOOK_PATH)
    env["BENCH_PHONE_ID"] = PHONE_NUMBER_ID
    argv = [str(python), "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "peer_pywa:app"]
    argv += ["--log-level", "warning", "--no-access-log"]
    server = Server("pywa", argv, env, workdir, pin=args.pin)
    try:
        server.wait_ready()
        result = run_async(peer_load(server, args, app_secret))
    except BaseException:
        print(f"peer log ({server.log_path}):\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
    result["version"] = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('pywa'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return result


# --------------------------------------------------------------------------------------- report


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """a's accepted/s over b's (both measured in this run)."""
    rate_a = a.get("accepted_per_s", a.get("requests_per_s", 0.0))
    rate_b = b.get("accepted_per_s", b.get("requests_per_s", 0.0))
    return round(rate_a / rate_b, 3) if rate_b else 0.0


def per_core(figures: dict[str, Any]) -> float:
    ms = figures.get("server_cpu_ms_per_webhook") or 0.0
    return 1000 / ms if ms else 0.0


def render(results: dict[str, Any], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    to_stderr = args.json == "-"  # standard output carries the JSON
    console = Console(
        stderr=to_stderr, width=None if (sys.stderr if to_stderr else sys.stdout).isatty() else 120
    )
    runs = [r for r in (results.get("sqlite"), results.get("postgresql")) if r]
    base = results.get("baseline")
    table = Table(
        title=f"Frontdesk signed WhatsApp webhooks (POST {WEBHOOK_PATH}): {args.connections} connections, "
        f"{args.senders} senders, one server process",
        title_justify="left",
    )
    table.add_column("")
    for run in runs:
        table.add_column("SQLite" if run["database"] == "sqlite" else "PostgreSQL", justify="right")
    table.add_column("target", justify="right", style="dim")

    def row(label: str, get: Callable[[dict], str], target: str = "") -> None:
        table.add_row(label, *(get(r) for r in runs), target)

    def section(title: str) -> None:
        table.add_row(f"[bold]{title}[/]", *("" for _ in runs), "")

    def mark(ok: bool) -> str:
        return "[green]✓[/]" if ok else "[red]✗[/]"

    def pair(phase: str, a: str, b: str) -> Callable[[dict], str]:
        return lambda r: f"{_ms(r[phase][a])} / {_ms(r[phase][b])}"

    def saturation_rate(r: dict) -> str:
        rate = r["saturation"]["accepted_per_s"]
        return f"{rate:,.0f} {mark(rate >= TARGETS[r['database']])}"

    def fixed_p99(r: dict) -> str:
        p50, p99 = r["fixed_rate"]["ack_p50_ms"], r["fixed_rate"]["ack_p99_ms"]
        return f"{_ms(p50)} / {_ms(p99)} {mark(p99 is not None and p99 <= ACK_P99_TARGET_MS)}"

    section(f"acceptance, workers off: saturation (closed loop, {args.duration:g} s)")
    row("accepted webhooks/s", saturation_rate, "≥ 2,000 SQLite, ≥ 1,500 PG")
    if base:
        row("  ÷ bare Starlette requests/s", lambda r: f"{r['baseline_ratio']:.3f}")
        row("  same, per server CPU second", lambda r: f"{r['baseline_ratio_per_cpu']:.3f}")
    if "pywa" in results:
        row(
            "  ÷ pywa bot (same requests, stores nothing)",
            lambda r: (
                f"{r['ratios']['known_to_pywa']:.2f} {mark(r['ratios']['known_to_pywa'] >= PEER_TARGET)}"
            ),
            f"≥ {PEER_TARGET:g}",
        )
    if "postgresql" in results and "sqlite" in results:

        def to_sqlite(r: dict) -> str:
            if "known_to_sqlite" not in r["ratios"]:
                return "1"
            value = r["ratios"]["known_to_sqlite"]
            return f"{value:.2f} {mark(value >= POSTGRES_TARGET)}"

        row("  ÷ SQLite", to_sqlite, f"PG ≥ {POSTGRES_TARGET:g}")
    row("server CPU ms per webhook", lambda r: f"{r['saturation']['server_cpu_ms_per_webhook']:.3f}")
    # What one whole core would accept at that cost: the figure to read when other load on the
    # machine kept the server's core from being saturated ("other" high).
    row("  → webhooks/s per full core", lambda r: f"{per_core(r['saturation']):,.0f}")
    row("ack p50 / p99 ms", pair("saturation", "ack_p50_ms", "ack_p99_ms"))
    row("CPU % server / load gen / other", lambda r: _cpu(r["saturation"]), "other ≈ 0")
    if args.senders_new:
        section(f"acceptance, workers off: new senders, every webhook a first message ({args.duration:g} s)")

        def new_rate(r: dict) -> str:
            value = r["ratios"]["new_to_known"]
            return (
                f"{r['new_senders']['accepted_per_s']:,.0f} ({value:.2f} {mark(value >= NEW_SENDERS_TARGET)})"
            )

        row("accepted webhooks/s (÷ known senders)", new_rate, f"≥ {NEW_SENDERS_TARGET:g} of known")
        row("server CPU ms per webhook", lambda r: f"{r['new_senders']['server_cpu_ms_per_webhook']:.3f}")
        row("ack p50 / p99 ms", pair("new_senders", "ack_p50_ms", "ack_p99_ms"))
        row("CPU % server / load gen / other", lambda r: _cpu(r["new_senders"]))
    section(f"acceptance, workers off: fixed rate (open loop, {args.rate:g}/s, {args.rate_duration:g} s)")
    row("webhooks sent/s", lambda r: f"{r['fixed_rate']['send_rate']:.0f}")
    row("ack p50 / p99 ms", fixed_p99, f"p99 ≤ {ACK_P99_TARGET_MS:g}")
    row("ack max ms", lambda r: _ms(r["fixed_rate"]["ack_max_ms"]))
    row("server CPU ms per webhook", lambda r: f"{r['fixed_rate']['server_cpu_ms_per_webhook']:.3f}")
    row("CPU % server / load gen / other", lambda r: _cpu(r["fixed_rate"]))
    section("acceptance run, whole")
    row("server RSS idle → peak MB", lambda r: f"{r['rss_idle_mb']:.0f} → {r['rss_peak_mb']:.0f}")

    def errors(r: dict) -> str:
        phases = [r[k] for k in ("warm_up", "saturation", "new_senders", "fixed_rate") if k in r]
        total = sum(p["errors"] for p in phases)
        not_stored = sum(p["not_stored"] for p in phases)
        return f"{total} / {not_stored}"

    row("non-200 / 200 not stored", errors, "0 / 0")

    def db(r: dict) -> str:
        last = r["db_checks"][-1]
        return f"{last['inbound']:,} = {last['accepted_so_far']:,} {mark(r['db_ok'])}"

    row("inbound rows = accepted (after each phase)", db)
    row("conversations without a queued job", lambda r: str(r["db_checks"][-1]["without_job"]), "0")
    workers = [r.get("with_workers") for r in runs]
    if any(workers):
        section(f"secondary: workers on, FRONTDESK_MOCK_PROVIDERS=true (closed loop, {args.duration:g} s)")

        def w(get: Callable[[dict], str]) -> Callable[[dict], str]:
            return lambda r: get(r["with_workers"]) if r.get("with_workers") else "-"

        row("accepted webhooks/s", w(lambda x: f"{x['saturation']['accepted_per_s']:,.0f}"))
        row(
            "server CPU ms per webhook (incl. turns)",
            w(lambda x: f"{x['saturation']['server_cpu_ms_per_webhook']:.3f}"),
        )
        row("ack p50 / p99 ms", w(pair("saturation", "ack_p50_ms", "ack_p99_ms")))
        row(
            "turns processed / failed in the window",
            w(lambda x: f"{x['saturation']['turns_processed']:,} / {x['saturation']['turns_failed']}"),
        )
        row("CPU % server / load gen / other", w(lambda x: _cpu(x["saturation"])))
        row(
            "non-200 / inbound rows = accepted",
            w(lambda x: f"{x['saturation']['errors']} / {mark(x['db_ok'])}"),
        )
    console.print(table)
    if base:
        baseline = Table(
            title=f"Baseline: bare Starlette endpoint (baseline_app.py) on uvicorn, same requests and "
            f"client, {args.connections} connections, closed loop, {args.duration:g} s",
            title_justify="left",
        )
        columns = ("requests/s", "server CPU µs/request", "p50 / p99 ms", "CPU % server / load gen / other")
        for column in (*columns, "errors"):
            baseline.add_column(column, justify="right")
        baseline.add_row(
            f"{base['requests_per_s']:,.0f}",
            f"{base['server_cpu_us_per_req']:.0f}",
            f"{_ms(base['p50_ms'])} / {_ms(base['p99_ms'])}",
            _cpu(base),
            str(base["errors"]),
        )
        console.print(baseline)
    if peer := results.get("pywa"):
        table = Table(
            title=f"Peer: pywa {peer.get('version', '')} (async) bot on FastAPI/uvicorn (peer_pywa.py): "
            "verifies the signature, parses, calls an empty handler, stores nothing; same requests, client",
            title_justify="left",
        )
        columns = (
            "requests/s",
            "÷ bare Starlette",
            "server CPU µs/request",
            "p50 / p99 ms",
            "CPU % server / load gen / other",
        )
        for column in (*columns, "errors"):
            table.add_column(column, justify="right")
        table.add_row(
            f"{peer['requests_per_s']:,.0f}",
            f"{ratio(peer, base):.3f}" if base else "-",
            f"{peer['server_cpu_us_per_req']:.0f}",
            f"{_ms(peer['p50_ms'])} / {_ms(peer['p99_ms'])}",
            _cpu(peer),
            str(peer["errors"]),
        )
        console.print(table)
    for r in runs:
        for label, run in (("", r), (" (workers on)", r.get("with_workers"))):
            for phase in ("warm_up", "saturation", "new_senders", "fixed_rate"):
                figures = (run or {}).get(phase)
                if figures and figures.get("sample_error"):
                    console.print(
                        f"[red]{r['database']}{label} {phase}: first error {figures['sample_error']}[/]"
                    )
                if figures and figures.get("built_late"):
                    console.print(
                        f"[yellow]{r['database']}{label} {phase}: {figures['built_late']} requests built "
                        "during the phase (raise PREBUILD_RATE)[/]"
                    )
    if not args.pin:
        console.print("[yellow]server and load generator were not pinned to separate CPUs[/]")


# ----------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    p.add_argument("--senders", type=int, default=300, help="distinct WhatsApp customers (default 300)")
    p.add_argument("--duration", type=float, default=10.0, help="saturation and baseline seconds (10)")
    p.add_argument("--rate", type=float, default=500.0, help="fixed-rate phase, webhooks/s (500)")
    p.add_argument("--rate-duration", type=float, default=10.0, help="fixed-rate phase seconds (10)")
    p.add_argument("--workers", type=int, default=None, help="FRONTDESK_WORKERS of the run with workers")
    p.add_argument(
        "--postgres",
        default=next((os.environ[k] for k in PG_ENV if os.environ.get(k)), None),
        help=f"PostgreSQL server URL; fresh databases are created on it (default: ${' or $'.join(PG_ENV)})",
    )
    p.add_argument(
        "--peer",
        choices=("pywa",),
        action="append",
        default=[],
        help="also measure a peer bot on the same requests: pywa (installed into --peer-venv)",
    )
    p.add_argument(
        "--peer-venv",
        default=str(
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "frontdesk-bench" / "pywa"
        ),
        help="the peer's own virtual environment (default: ~/.cache/frontdesk-bench/pywa)",
    )
    p.add_argument(
        "--senders-new",
        action="store_true",
        help="add a phase in which every webhook comes from a sender the database has never seen",
    )
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    p.add_argument("--no-sqlite", action="store_true", help="skip the SQLite runs")
    p.add_argument("--no-baseline", action="store_true", help="skip the bare Starlette baseline")
    p.add_argument("--no-workers-run", action="store_true", help="skip the secondary run with workers on")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON ('-': standard output)")
    p.add_argument("--py-spy", metavar="DIR", help="record py-spy profiles of each saturation phase")
    p.add_argument(
        "--py-spy-format",
        choices=("flamegraph", "raw", "speedscope"),
        default="flamegraph",
        help="py-spy output: flamegraph (svg, default), raw (collapsed stacks), speedscope (json)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server logs, SQLite files)")
    args = p.parse_args(argv)
    args.pin = args.pin and can_pin()
    if args.py_spy and not py_spy_binary():
        p.error("--py-spy needs py-spy on PATH or beside the interpreter (pip install py-spy)")
    if args.senders < 1 or args.connections < 1:
        p.error("--senders and --connections must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pin:
        os.sched_setaffinity(0, {LOADGEN_CPU})  # children pin themselves to SERVER_CPU
    workdir = Path(tempfile.mkdtemp(prefix="fd-bench-webhooks-"))
    results: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "postgres"}}

    def sqlite_url(label: str) -> contextlib.AbstractContextManager[str]:
        folder = workdir / ("sqlite" if label == "acceptance" else f"sqlite-{label}")
        return contextlib.nullcontext(f"sqlite+aiosqlite:///{folder / 'frontdesk.db'}")

    def postgres_url(label: str) -> contextlib.AbstractContextManager[str]:
        return fresh_postgres_database(args.postgres)

    try:
        if not args.no_baseline:
            print("baseline: bare Starlette ...", file=sys.stderr)
            results["baseline"] = run_baseline(workdir / "baseline", args)
        if "pywa" in args.peer:
            print("peer: pywa bot ...", file=sys.stderr)
            results["pywa"] = run_peer(workdir / "pywa", args)
        if not args.no_sqlite:
            results["sqlite"] = run_database("sqlite", sqlite_url, workdir, args)
        if args.postgres and not args.no_postgres:
            results["postgresql"] = run_database("postgresql", postgres_url, workdir, args)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for name in ("sqlite", "postgresql"):
        run = results.get(name)
        if run is None:
            continue
        run["saturation"]["webhooks_per_core_s"] = round(per_core(run["saturation"]))
        run["targets"] = {
            "saturation_accepted_per_s": TARGETS[name],
            "saturation_met": run["saturation"]["accepted_per_s"] >= TARGETS[name],
            "fixed_rate_ack_p99_ms": ACK_P99_TARGET_MS,
            "fixed_rate_met": (run["fixed_rate"]["ack_p99_ms"] or math.inf) <= ACK_P99_TARGET_MS,
        }
        if "baseline" in results:
            rps = results["baseline"]["requests_per_s"]
            run["baseline_ratio"] = round(run["saturation"]["accepted_per_s"] / rps, 4) if rps else 0.0
            per_req = results["baseline"]["server_cpu_us_per_req"] / 1000
            per_webhook = run["saturation"]["server_cpu_ms_per_webhook"]
            run["baseline_ratio_per_cpu"] = round(per_req / per_webhook, 4) if per_webhook else 0.0
        ratios = run.setdefault("ratios", {})
        if "pywa" in results:
            ratios["known_to_pywa"] = ratio(run["saturation"], results["pywa"])
            run["targets"]["known_to_pywa"] = PEER_TARGET
        if "new_senders" in run:
            ratios["new_to_known"] = ratio(run["new_senders"], run["saturation"])
            run["targets"]["new_to_known"] = NEW_SENDERS_TARGET
    if "sqlite" in results and "postgresql" in results:
        pg = results["postgresql"]
        pg["ratios"]["known_to_sqlite"] = ratio(pg["saturation"], results["sqlite"]["saturation"])
        pg["targets"]["known_to_sqlite"] = POSTGRES_TARGET
    render(results, args)
    if args.json == "-":
        json.dump(results, sys.stdout, indent=2)
        print()
    elif args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
