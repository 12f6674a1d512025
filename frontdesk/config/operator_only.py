"""Settings a tenant's token may not set: where Frontdesk sends a provider's credentials, and server files.

A provider base URL (a channel's ``settings.api_base_url``, the Google Calendar ``base_url`` and
``token_url``) receives the channel's access token or the calendar's OAuth secrets, and requests
to it are not guarded like a tenant's own URLs (an HTTP action, a model endpoint, a CalDAV server):
the operator uses it to point a channel at a proxy or a test server. So only the platform (an admin
token without tenant, the CLI, the Python API) may set one, unless its host is one the operator
opened in ``FRONTDESK_HTTP_ACTIONS_ALLOW``. A file path (``google.service_account_file``) names a
file on the server: platform only, always. A value already stored may stay when a tenant changes
something else.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from frontdesk.errors import ConfigError
from frontdesk.security.ssrf import AllowList
from frontdesk.security.tokens import Principal

Path = tuple[str, ...]
GOOGLE = ("settings", "calendar", "google")
BASE_URLS: dict[str, tuple[Path, ...]] = {
    "channel": (("settings", "api_base_url"),),
    "tenant": ((*GOOGLE, "base_url"), (*GOOGLE, "token_url")),
}
# The providers' own public endpoints may always be written out (they are the defaults anyway).
PROVIDER_HOSTS = frozenset(
    {"graph.facebook.com", "api.twilio.com", "www.googleapis.com", "oauth2.googleapis.com"}
)
SERVER_FILES: dict[str, tuple[Path, ...]] = {"tenant": ((*GOOGLE, "service_account_file"),)}


def check(
    kind: str, new: dict[str, Any], current: dict[str, Any] | None, principal: Principal, allow: AllowList
) -> None:
    """Raise ConfigError when a tenant's token sets (or changes) an operator-only setting."""
    if principal.is_superuser:
        return
    for path in BASE_URLS.get(kind, ()):
        value = _dig(new, path)
        if _changed(value, current, path) and not _host_allowed(value, allow):
            raise ConfigError(
                f"{'.'.join(path)} can only be set by the platform operator (it receives the "
                "provider's credentials), unless its host is allowed in FRONTDESK_HTTP_ACTIONS_ALLOW",
                details=[{"field": ".".join(path), "message": "operator only"}],
            )
    for path in SERVER_FILES.get(kind, ()):
        if _changed(_dig(new, path), current, path):
            raise ConfigError(
                f"{'.'.join(path)} names a file on the server, which only the platform operator may do; "
                "give the key itself as google.service_account",
                details=[{"field": ".".join(path), "message": "operator only"}],
            )


def _dig(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _changed(value: Any, current: dict[str, Any] | None, path: Path) -> bool:
    return value not in (None, "") and value != _dig(current, path)


def _host_allowed(value: Any, allow: AllowList) -> bool:
    try:
        parts = urlsplit(str(value))
        host = parts.hostname or ""
    except ValueError:
        return False
    if not host:
        return False
    if parts.scheme == "https" and host in PROVIDER_HOSTS and parts.port in (None, 443):
        return True
    if allow.allows_host(host):
        return True
    try:
        return allow.allows_ip(ipaddress.ip_address(host))
    except ValueError:
        return False
