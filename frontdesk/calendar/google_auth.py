"""Access tokens for the Google Calendar API: a given token, an OAuth refresh token, or a service account.

Written by hand because Google's own auth library is not a dependency and the two grants are
small: a refresh-token POST, and for a service account a JWT signed with RS256 (the
``cryptography`` package we already use) exchanged at the token endpoint (RFC 7523).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from frontdesk.calendar.connections import GoogleConfig
from frontdesk.errors import SyncFailed
from frontdesk.security.ssrf import OutboundError

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/calendar"
EARLY_SECONDS = 60  # renew this long before the token expires


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_key(cfg: GoogleConfig) -> dict[str, Any]:
    if cfg.service_account:
        return cfg.service_account
    try:
        return json.loads(Path(cfg.service_account_file).read_text())
    except (OSError, ValueError):
        # One message whatever went wrong: it must not tell whether a file exists on the server.
        raise SyncFailed("google.service_account_file is not a readable service account key") from None


def signed_assertion(key: dict[str, Any], token_url: str, subject: str, now: float) -> str:
    """The JWT a service account trades for an access token."""
    claims = {"iss": key["client_email"], "scope": SCOPE, "aud": token_url, "iat": int(now)}
    claims["exp"] = claims["iat"] + 3600
    if subject:
        claims["sub"] = subject
    header = {"alg": "RS256", "typ": "JWT"}
    if key.get("private_key_id"):
        header["kid"] = key["private_key_id"]
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise SyncFailed("the service account's private_key is not an RSA key")
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


class GoogleAuth:
    """Hands out a valid access token, renewing it through ``http``; ``cache`` outlives this object."""

    def __init__(self, cfg: GoogleConfig, http: httpx.AsyncClient, cache: dict[str, Any]) -> None:
        self.cfg = cfg
        self.http = http
        self.cache = cache
        self._key = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()

    def forget(self) -> None:
        self.cache.pop(self._key, None)

    async def token(self) -> str:
        cfg = self.cfg
        if cfg.access_token:  # an access_token_env was read into it (tenant_secrets.for_use)
            return cfg.access_token
        hit = self.cache.get(self._key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        if cfg.refresh_token:
            url = cfg.token_url or GOOGLE_TOKEN_URL
            form = {
                "grant_type": "refresh_token",
                "refresh_token": cfg.refresh_token,
                "client_id": cfg.client_id,
                "client_secret": cfg.client_secret,
            }
        else:
            key = service_account_key(cfg)
            url = cfg.token_url or key.get("token_uri") or GOOGLE_TOKEN_URL
            try:
                assertion = signed_assertion(key, url, cfg.subject, time.time())
            except (KeyError, ValueError, TypeError) as exc:
                raise SyncFailed(f"the google service account key is unusable: {exc}") from exc
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        try:
            r = await self.http.post(url, data=form)
        except (httpx.HTTPError, OutboundError) as exc:
            reason = exc.message if isinstance(exc, OutboundError) else type(exc).__name__
            raise SyncFailed(f"google token request failed: {reason}") from exc
        if r.status_code != 200:
            raise SyncFailed(f"google token request refused: HTTP {r.status_code}")
        body = r.json()
        expires = float(body.get("expires_in", 3600))
        self.cache[self._key] = (body["access_token"], time.monotonic() + max(0.0, expires - EARLY_SECONDS))
        return body["access_token"]
