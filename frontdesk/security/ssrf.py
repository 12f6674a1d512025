"""Outbound calls to addresses a tenant chose (HTTP actions, remote agents, router models).

A tenant must not reach the operator's own network through Frontdesk: the metadata service at
169.254.169.254, the database on 10.0.0.5, the admin port on localhost. Every such call resolves its
host, refuses loopback, link-local, private, multicast, reserved and unspecified addresses (IPv4 and
IPv6, including IPv4 addresses embedded in IPv6 ones), then connects to the very address it checked,
so a DNS answer that changes between check and connect (DNS rebinding) cannot slip through.
Redirects are followed by hand, each hop checked again. The operator opens holes with
``FRONTDESK_HTTP_ACTIONS_ALLOW`` (comma-separated host names and CIDRs).

Two ways in, one check (``check_url``): ``fetch`` for a single bounded exchange (HTTP actions,
remote agents, router models), and ``guarded_client`` for long-lived clients (model endpoints,
calendars, media downloads) whose connection pool connects through ``GuardedBackend``: every new
connection resolves and checks its host and connects to the address it checked, so redirects and
DNS answers that change later are checked too, while TLS still verifies the real host name.

Its refusals are ``OutboundError`` and its two branches, ``BlockedDestination`` and
``OutboundTimeout``, in ``frontdesk/errors.py``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from frontdesk.errors import BlockedDestination, ConfigError, OutboundError, OutboundTimeout

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class AllowList:
    """Host names and networks the operator opened to tenant-configured calls."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in (text or "").split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or ":" in entry or " " in entry:
                raise ConfigError(
                    f"FRONTDESK_HTTP_ACTIONS_ALLOW entry {raw.strip()!r} is neither a host name nor a CIDR "
                    "(examples: crm.internal, 10.1.2.0/24, 127.0.0.1)"
                )
            hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_ip(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # ::ffff:a.b.c.d, 6to4 and NAT64 addresses reach the IPv4 address inside them.
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _plain_reason(ip: IPAddress) -> str | None:
    for reason, hit in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private or getattr(ip, "is_site_local", False)),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return reason
    return None if ip.is_global else "not public"


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be called ("loopback", "private", …), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = _plain_reason(inner)
            if ip.ipv4_mapped is not None or reason:
                return reason and f"{reason} (IPv4 {inner} inside IPv6)"
    return _plain_reason(ip)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"cannot resolve host {host!r}: {exc}", retryable=True) from None
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    if not out:
        raise OutboundError(f"cannot resolve host {host!r}", retryable=True)
    return out


async def check_url(url: httpx.URL, allow: AllowList) -> IPAddress:
    """The address to connect to for ``url``; BlockedDestination if any of its addresses is forbidden."""
    if url.scheme not in ("http", "https") or not url.host:
        raise BlockedDestination(f"only http(s) URLs with a host can be called, not {str(url)!r}")
    return await check_host(url.host, url.port or (443 if url.scheme == "https" else 80), allow)


async def check_host(host: str, port: int, allow: AllowList) -> IPAddress:
    """The address to connect to for ``host``; BlockedDestination if any of its addresses is forbidden."""
    ips = await resolve(host, port)
    if allow.allows_host(host):
        return ips[0]
    for ip in ips:
        reason = forbidden_reason(ip)
        if reason and not allow.allows_ip(ip):
            raise BlockedDestination(
                f"{host} resolves to {ip}, a {reason} address; outbound calls may only reach public "
                "addresses unless the operator allows the host in FRONTDESK_HTTP_ACTIONS_ALLOW"
            )
    return ips[0]


class GuardedBackend:
    """An httpcore network backend (httpx's or httpx2's) that connects only to addresses it checked.

    The pool above it still keys connections by host name and TLS still verifies that name; only
    the TCP connection goes to the checked address, so nothing can change between check and connect.
    """

    def __init__(self, inner: Any, allow: Callable[[], AllowList]) -> None:
        self.inner = inner
        self.allow = allow

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> Any:
        ip = await check_host(host, port, self.allow())
        return await self.inner.connect_tcp(
            str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise BlockedDestination("outbound calls cannot use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guard_transport(transport: Any, allow: Callable[[], AllowList]) -> Any:
    """``transport`` (an httpx or httpx2 ``AsyncHTTPTransport``) connecting through ``GuardedBackend``.

    Neither library takes a network backend in its public API; the pool's attribute is set instead,
    and tests/unit/security pin that a loopback host is refused through it.
    """
    pool = transport._pool
    pool._network_backend = GuardedBackend(pool._network_backend, allow)
    return transport


def guarded_client(allow: Callable[[], AllowList], **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client whose every connection (redirects included) passes the guard."""
    transport = guard_transport(httpx.AsyncHTTPTransport(verify=_tls()), allow)
    return httpx.AsyncClient(transport=transport, trust_env=False, **kwargs)


@dataclass
class Fetched:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str
    elapsed_ms: int = 0
    hops: list[str] = field(default_factory=list)

    def json(self) -> Any:
        import json

        return json.loads(self.body)


async def fetch(
    method: str,
    url: str,
    *,
    allow: AllowList,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 3,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fetched:
    """One guarded HTTP exchange: checked, pinned to the checked address, bounded in time and size.

    Each exchange has a client of its own: a pool keyed by address would hand a TLS connection
    verified for one host name to another name served from the same address.
    """
    started = time.monotonic()
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(verify=_tls(), trust_env=False, transport=transport) as client,
        ):
            return await _exchange(
                client,
                method,
                httpx.URL(url),
                allow,
                dict(headers or {}),
                content,
                timeout,
                max_bytes,
                max_redirects,
                started,
            )
    except TimeoutError:
        raise OutboundTimeout(f"no complete answer from {httpx.URL(url).host} within {timeout:g}s") from None


@functools.cache
def _tls() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs more than a small request.
    return httpx.create_ssl_context()


async def _exchange(
    client: httpx.AsyncClient,
    method: str,
    target: httpx.URL,
    allow: AllowList,
    headers: dict[str, str],
    content: bytes | None,
    timeout: float,
    max_bytes: int,
    max_redirects: int,
    started: float,
) -> Fetched:
    hops: list[str] = []
    for _ in range(max_redirects + 1):
        ip = await check_url(target, allow)
        hops.append(str(target))
        pinned = target.copy_with(host=str(ip))
        host_header = target.host if target.port is None else f"{target.host}:{target.port}"
        request = client.build_request(
            method,
            pinned,
            headers={**headers, "Host": host_header},
            content=content,
            timeout=httpx.Timeout(timeout),
            # TLS still checks the certificate against the real host name.
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
        except httpx.TimeoutException:
            raise OutboundTimeout(f"no answer from {target.host} within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise OutboundError(
                f"cannot reach {target.host}: {exc or type(exc).__name__}", retryable=True
            ) from None
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECTS and location:
                target = target.join(location)
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, content = "GET", None
                continue
            body = await _read_capped(response, max_bytes, target.host)
        finally:
            await response.aclose()
        elapsed = int((time.monotonic() - started) * 1000)
        return Fetched(response.status_code, response.headers, body, str(target), elapsed, hops)
    raise OutboundError(f"more than {max_redirects} redirects starting at {hops[0]}")


async def _read_capped(response: httpx.Response, max_bytes: int, host: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError(f"the answer from {host} is larger than {max_bytes // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise OutboundError(f"the answer from {host} is larger than {max_bytes // 1024} KiB")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise OutboundTimeout(f"the answer from {host} stalled") from None
    except httpx.HTTPError as exc:
        raise OutboundError(f"the answer from {host} broke off: {exc}", retryable=True) from None
    return b"".join(chunks)


def allow_list(settings: Any) -> AllowList:
    """The operator's allow-list (``FRONTDESK_HTTP_ACTIONS_ALLOW``) of ``settings``."""
    return _parsed(getattr(settings, "http_actions_allow", "") or "")


@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> AllowList:
    return AllowList.parse(text)
