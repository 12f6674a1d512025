"""The guarded clients (model endpoints, calendars, media): every connection is checked and pinned."""

from __future__ import annotations

import httpx
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Route

from frontdesk.security import ssrf
from frontdesk.security.ssrf import AllowList, BlockedDestination, guard_transport, guarded_client
from tests.fakes.server import run_app

NOTHING = AllowList()
LOOPBACK = AllowList.parse("127.0.0.1")


def _app(redirect_to: str = "") -> Starlette:
    async def secret(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("internal secret")

    async def hop(request):  # type: ignore[no-untyped-def]
        return RedirectResponse(redirect_to, status_code=302)

    return Starlette(routes=[Route("/internal", secret), Route("/hop", hop)])


INTERNAL = ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "2130706433", "169.254.169.254", "10.0.0.5"]


@pytest.mark.parametrize("host", INTERNAL)
async def test_internal_hosts_are_refused_before_connecting(host: str) -> None:
    async with guarded_client(lambda: NOTHING, timeout=2) as client:
        with pytest.raises(BlockedDestination):
            await client.get(f"http://{host}:9/internal")


async def test_a_redirect_to_loopback_is_refused() -> None:
    with run_app(_app()) as internal:
        # The first hop is allowed by name only; the redirect goes to a loopback address.
        allow = AllowList(hosts=frozenset({"localhost"}))
        with run_app(_app(redirect_to=f"{internal}/internal")) as outer:
            start = outer.replace("127.0.0.1", "localhost") + "/hop"
            async with guarded_client(lambda: allow, timeout=5, follow_redirects=True) as client:
                with pytest.raises(BlockedDestination):
                    await client.get(start)


async def test_an_allowed_address_is_reached() -> None:
    with run_app(_app()) as base:
        async with guarded_client(lambda: LOOPBACK, timeout=5) as client:
            answer = await client.get(f"{base}/internal")
    assert answer.text == "internal secret"


async def test_the_connection_goes_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """No second DNS lookup: a name only our check can resolve is still reached (DNS rebinding shut)."""
    real = ssrf.resolve

    async def resolve(host: str, port: int):  # type: ignore[no-untyped-def]
        return await real("127.0.0.1" if host == "rebind.invalid" else host, port)

    monkeypatch.setattr(ssrf, "resolve", resolve)
    with run_app(_app()) as base:
        url = base.replace("127.0.0.1", "rebind.invalid") + "/internal"
        async with guarded_client(lambda: LOOPBACK, timeout=5) as client:
            assert (await client.get(url)).text == "internal secret"


async def test_httpx2_transports_are_guarded_too() -> None:
    transport = guard_transport(httpx2.AsyncHTTPTransport(), lambda: NOTHING)
    async with httpx2.AsyncClient(transport=transport, timeout=2) as client:
        with pytest.raises(BlockedDestination):
            await client.get("http://localhost:9/")


async def test_the_allow_list_is_read_at_each_connection() -> None:
    current = {"allow": NOTHING}
    with run_app(_app()) as base:
        async with guarded_client(lambda: current["allow"], timeout=5) as client:
            with pytest.raises(BlockedDestination):
                await client.get(f"{base}/internal")
            current["allow"] = LOOPBACK
            assert (await client.get(f"{base}/internal")).status_code == 200


def test_plain_httpx_transport_has_the_pool_attribute_we_set() -> None:
    # guard_transport reaches into the transport's pool; this fails loudly if httpx renames it.
    transport = guard_transport(httpx.AsyncHTTPTransport(), lambda: NOTHING)
    assert isinstance(transport._pool._network_backend, ssrf.GuardedBackend)
