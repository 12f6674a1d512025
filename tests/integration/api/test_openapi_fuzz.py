"""Schemathesis over every operation of the OpenAPI document, once with an admin token and once with
a tenant token: never a 5xx, every status and body as the document describes it.

The app runs in-process (schemathesis' ASGI transport, on its own event-loop thread) over a fresh
SQLite database seeded with one tenant: an FAQ agent on a web chat channel and on a Twilio SMS
number. Providers are in mock mode and the process may open sockets to 127.0.0.1 only, so nothing
a generated configuration points at can leave the machine.

Checks: not_a_server_error, status_code_conformance, content_type_conformance and
response_schema_conformance. Generation is deterministic with a fixed seed, so they are not flaky
and a failure in CI reproduces locally. Most success bodies are documented as any JSON object, so
the schema check bites mainly on error bodies, the typed web chat answers and the stream's events.
Each test starts from a fresh copy of the seeded database. FRONTDESK_FUZZ_EXAMPLES sets the
generated examples per operation and phase (default 10).
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from frontdesk.app import create_app
from frontdesk.channels.webchat import SessionSigner
from frontdesk.runtime import Runtime
from frontdesk.security.secrets import load_secret_box
from frontdesk.security.tokens import SYSTEM, create_token
from frontdesk.settings import Settings
from tests.conftest import make_settings
from tests.helpers import setup_webchat
from tests.providers import add_twilio_channel

EXAMPLES = int(os.environ.get("FRONTDESK_FUZZ_EXAMPLES", "10"))
TENANT = "acme"
WEB, SMS, NUMBER = f"{TENANT}_web", f"{TENANT}_sms", "+14123456789"
# Nothing listens there: a send or a media download that got past mock mode fails fast, locally.
NOWHERE = "http://127.0.0.1:9"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
KNOWLEDGE = "kb_fuzz"
# Everything in the seeded configuration has a known id. Offered as examples, these take generated
# requests past "not found" into the handlers (the fuzzing phase still tries anything).
SETTINGS = make_settings("sqlite+aiosqlite://")
# A session of the seeded web chat, signed with the key the Runtime derives from the same settings.
SESSION = SessionSigner(load_secret_box(SETTINGS).derive("webchat-session")).new_session(WEB)[1]
SEEDED = {
    "tenant_id": [TENANT],
    "agent_id": [f"{TENANT}_faq"],
    "channel_id": [WEB, SMS],
    "id": [KNOWLEDGE],
    "phone": [NUMBER],
    "session": [SESSION],
}
BODIES = {
    ("post", "/webchat/{channel_id}/messages"): {"session": SESSION, "text": "What are your opening hours?"},
    ("post", "/route/message"): {"from": "+14155550100", "to": NUMBER, "message": "Where are you located?"},
}
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240901,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "request-timeout": 30.0,
        # A web chat stream stays open until the browser leaves: read one second of it.
        "operations": [{"include-path": "/webchat/{channel_id}/stream", "request-timeout": 1.0}],
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
        },
    }
)


def _with_seeded_examples(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                values = SEEDED.get(parameter["name"])
                if values:
                    parameter["examples"] = {f"seeded{i}": {"value": v} for i, v in enumerate(values)}
            body = BODIES.get((method, path))
            if body:
                operation["requestBody"]["content"]["application/json"]["example"] = body
    return document


# The document does not depend on the database, so an app that never starts gives it.
schema = schemathesis.openapi.from_dict(_with_seeded_examples(create_app(SETTINGS).openapi()), config=CONFIG)


@pytest.fixture(scope="module")
def loopback_only() -> Iterator[None]:
    """No name lookup and no connection beyond the loopback interface, from any thread."""
    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise ConnectionRefusedError(f"test network guard: no connection to {address[0]}")
        return real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in LOOPBACK and not _is_ip(name):
            raise socket.gaierror(socket.EAI_NONAME, f"test network guard: no lookup of {name}")
        return real_lookup(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def _seed(settings: Settings) -> dict[str, str]:
    rt = Runtime(settings)
    await rt.start(workers=False)
    try:
        await setup_webchat(rt, TENANT, prefix=TENANT)
        await add_twilio_channel(
            rt, NOWHERE, channel_id=SMS, number=NUMBER, agent_id=f"{TENANT}_faq", tenant_id=TENANT
        )
        entry = {"id": KNOWLEDGE, "question": "Do you deliver?", "answer": "Yes, within the city."}
        await rt.config.create("knowledge", {**entry, "tenant_id": TENANT}, principal=SYSTEM)
        async with rt.db.write() as conn:
            _, admin = await create_token(conn, None, "fuzz admin")
            _, tenant = await create_token(conn, TENANT, "fuzz tenant")
    finally:
        await rt.stop()
    return {"admin": admin, "tenant": tenant}


class RuntimePerLifespan:
    """The app under test, with a new Runtime on a fresh copy of the seeded database each lifespan.

    schemathesis ends an ASGI app's lifespan after every test and starts it again for the next; a
    stopped Runtime does not start again, and an operation must not see what another one did (the
    admin token deletes the seeded tenant, the tenant token's too), so each test starts afresh.
    """

    def __init__(self, settings: Settings, seeded: Path, tokens: dict[str, str]) -> None:
        self.settings = settings
        self.seeded = seeded
        self.tokens = tokens
        self.app = create_app(settings)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                database = self.settings.sqlite_path
                assert database is not None
                for stale in database.parent.glob(f"{database.name}*"):
                    stale.unlink()
                shutil.copyfile(self.seeded, database)
                self.app.state.runtime = Runtime(self.settings)
                await self.app.state.runtime.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.app.state.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory, loopback_only: None) -> RuntimePerLifespan:
    folder = tmp_path_factory.mktemp("fuzz")
    seeded = folder / "seeded.db"
    tokens = asyncio.run(_seed(make_settings(f"sqlite+aiosqlite:///{seeded}")))
    assert not seeded.with_name("seeded.db-wal").exists()  # all of it in the one file that is copied
    settings = make_settings(f"sqlite+aiosqlite:///{folder / 'frontdesk.db'}", mock_providers=True, workers=2)
    return RuntimePerLifespan(settings, seeded, tokens)


@pytest.fixture(scope="module", params=["admin", "tenant"])
def token(request: pytest.FixtureRequest, fuzzed_app: RuntimePerLifespan) -> str:
    return fuzzed_app.tokens[request.param]


@schema.parametrize()
def test_every_operation(case: schemathesis.Case, fuzzed_app: RuntimePerLifespan, token: str) -> None:
    case.call_and_validate(app=fuzzed_app, headers={"Authorization": f"Bearer {token}"})
