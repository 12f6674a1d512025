"""The SSRF guard: which addresses tenant-configured calls may reach, and the operator's allow-list."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from frontdesk.errors import ConfigError
from frontdesk.security.ssrf import AllowList, BlockedDestination, check_url, forbidden_reason

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.9", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "private"),
    ("100.64.0.1", "not public"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
]


@pytest.mark.parametrize(("address", "reason"), FORBIDDEN)
def test_forbidden_addresses(address: str, reason: str) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None and found.startswith(reason)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://[::1]:8080/",
        "http://10.0.0.5/db",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:9000/",  # a name resolving to loopback
        "http://0.0.0.0/",
    ],
)
async def test_check_url_refuses_the_operators_network(url: str) -> None:
    with pytest.raises(BlockedDestination, match="outbound calls may only reach public addresses"):
        await check_url(httpx.URL(url), AllowList())


async def test_check_url_refuses_other_schemes() -> None:
    with pytest.raises(BlockedDestination, match="only http"):
        await check_url(httpx.URL("file:///etc/passwd"), AllowList())


async def test_public_literal_is_returned_as_the_address_to_connect_to() -> None:
    assert str(await check_url(httpx.URL("https://93.184.216.34/x"), AllowList())) == "93.184.216.34"


async def test_allow_list_opens_hosts_and_networks() -> None:
    by_cidr = AllowList.parse("127.0.0.0/8, crm.internal")
    assert str(await check_url(httpx.URL("http://127.0.0.1:9/"), by_cidr)) == "127.0.0.1"
    with pytest.raises(BlockedDestination):
        await check_url(httpx.URL("http://10.0.0.1/"), by_cidr)
    by_name = AllowList.parse("localhost")
    assert (await check_url(httpx.URL("http://LOCALHOST/x"), by_name)).is_loopback
    with pytest.raises(BlockedDestination):  # the name is allowed, not every loopback address
        await check_url(httpx.URL("http://127.0.0.1/"), by_name)
    v6 = AllowList.parse("[::1]")
    assert str(await check_url(httpx.URL("http://[::1]/"), v6)) == "::1"


def test_allow_list_parsing() -> None:
    allow = AllowList.parse(" crm.internal ,10.8.0.0/16,, 127.0.0.1 ")
    assert allow.hosts == {"crm.internal"}
    assert [str(n) for n in allow.networks] == ["10.8.0.0/16", "127.0.0.1/32"]
    assert AllowList.parse("") == AllowList()
    with pytest.raises(ConfigError, match="neither a host name nor a CIDR"):
        AllowList.parse("10.0.0.0/33")


async def test_fetch_connects_to_the_checked_address_under_the_real_name() -> None:
    from frontdesk.security.ssrf import fetch

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    got = await fetch(
        "GET",
        "https://localhost:8443/x?y=1",
        allow=AllowList.parse("localhost"),
        transport=httpx.MockTransport(handler),
    )
    assert got.status == 200 and got.json() == {"ok": True}
    request = seen[0]
    assert request.url.host == "127.0.0.1" and request.url.port == 8443 and request.url.query == b"y=1"
    assert request.headers["host"] == "localhost:8443"
    assert request.extensions["sni_hostname"] == "localhost"  # TLS checks the name, not the address


async def test_fetch_checks_every_redirect_and_caps_the_size() -> None:
    from frontdesk.security.ssrf import OutboundError, fetch

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/away":
            return httpx.Response(302, headers={"location": "http://10.0.0.1/internal"})
        if request.url.path == "/loop":
            return httpx.Response(302, headers={"location": "/loop"})
        return httpx.Response(200, content=b"x" * 2048)

    allow, transport = AllowList.parse("127.0.0.1"), httpx.MockTransport(handler)
    with pytest.raises(BlockedDestination, match=r"10\.0\.0\.1"):
        await fetch("GET", "http://127.0.0.1/away", allow=allow, transport=transport)
    with pytest.raises(OutboundError, match="more than 3 redirects"):
        await fetch("GET", "http://127.0.0.1/loop", allow=allow, transport=transport)
    with pytest.raises(OutboundError, match="larger than 1 KiB"):
        await fetch("GET", "http://127.0.0.1/big", allow=allow, transport=transport, max_bytes=1024)
    assert len((await fetch("GET", "http://127.0.0.1/big", allow=allow, transport=transport)).body) == 2048
