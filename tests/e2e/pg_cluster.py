"""A PostgreSQL cluster of a test's own (Debian's postgresql-common tools), to restart at will.

The shared server that the other PostgreSQL tests use must never be restarted under them, so a
test that needs a database restart creates a throwaway cluster on a free port, with trust
authentication on 127.0.0.1, and drops it afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.support import free_port

TOOLS = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster")
# Fast to start and to restart; durability across a crash of the machine is not what is tested.
SETTINGS = ("fsync=off", "full_page_writes=off", "max_connections=200")


@dataclass
class Cluster:
    version: str
    name: str
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def ctl(self, action: str) -> None:
        _run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action)

    def restart(self, timeout: float = 60.0) -> float:
        """Restart the server (fast shutdown: every connection is cut); return once it answers
        again, with the seconds it took."""
        began = time.monotonic()
        self.ctl("restart")
        self.wait_ready(timeout)
        return time.monotonic() - began

    def wait_ready(self, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")


def _unavailable() -> str | None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (Debian's postgresql-common makes private clusters)"
    if os.geteuid() != 0:
        return "creating a PostgreSQL cluster needs root (pg_createcluster runs initdb as postgres)"
    if not Path("/usr/lib/postgresql").is_dir() or not any(Path("/usr/lib/postgresql").iterdir()):
        return "no PostgreSQL server installed under /usr/lib/postgresql"
    return None


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A fresh cluster, started; stopped and dropped at the end. Skips when the tools are missing,
    unless FRONTDESK_REQUIRE_POSTGRES is set (CI), where it fails instead."""
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("FRONTDESK_REQUIRE_POSTGRES"):
            pytest.fail(f"FRONTDESK_REQUIRE_POSTGRES is set but no private cluster can be made: {reason}")
        pytest.skip(reason)
    version = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: float(p.name))[-1].name
    cluster = Cluster(version, f"fd_test_{secrets.token_hex(4)}", free_port())
    options = [arg for setting in SETTINGS for arg in ("-o", setting)]
    _run(
        "pg_createcluster",
        version,
        cluster.name,
        "--port",
        str(cluster.port),
        "--start-conf",
        "manual",
        *options,
        "--",
        "--auth=trust",
    )
    try:
        cluster.ctl("start")
        cluster.wait_ready()
        yield cluster
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", version, cluster.name], capture_output=True, timeout=120, check=False
        )
