"""``frontdesk replay``: post recorded provider webhooks to a running Frontdesk, signed as the
provider would sign them, and report what each one did (seed 002's fixture replay).

The channel's secrets are read from the same database and key the server uses, so replayed
webhooks pass the real signature checks; mock mode (FRONTDESK_MOCK_PROVIDERS=true) keeps the
answers from going out. A recording is replayed as if sent now: its Meta message timestamps are set
to the present, since the server refuses messages older than its replay window (8 days).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import sqlalchemy as sa

from frontdesk.channels.base import RawRequest
from frontdesk.channels.twilio import twilio_signature
from frontdesk.errors import BadRequest, NotFound
from frontdesk.model.routing import ChannelInfo
from frontdesk.runtime import Runtime
from frontdesk.store.tables import messages


@dataclass(slots=True)
class Replayed:
    file: str
    provider: str
    status: int
    result: dict[str, Any] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def outcome(self) -> str:
        if self.error:
            return self.error
        if self.result.get("stored"):
            return f"stored {self.result['stored']}"
        if self.result.get("duplicates"):
            return "duplicate (already stored)"
        if self.result.get("statuses"):
            return f"{self.result['statuses']} status update(s)"
        if self.result.get("refused"):
            return "refused: " + "; ".join(r["reason"] for r in self.result["refused"])
        return "nothing to store"


@dataclass(frozen=True, slots=True)
class Webhook:
    provider: str
    path: str
    body: bytes
    form: dict[str, str] | None


def load(path: Path) -> tuple[str, Any]:
    """A fixture file: ('meta', JSON object) or ('twilio', form fields)."""
    text = path.read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    stripped = "\n".join(lines).strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{path.name}: not valid JSON ({exc})") from None
        if "object" in data and "entry" in data:
            return "meta", data
        raise BadRequest(
            f"{path}: JSON without Meta's object/entry envelope; no other provider is replayable yet"
        )
    form = dict(parse_qsl(stripped, keep_blank_values=True))
    if "AccountSid" in form or "MessageSid" in form or "CallSid" in form:
        return "twilio", form
    raise BadRequest(f"{path.name}: neither a Meta JSON webhook nor a Twilio form body")


def _meta_for(data: dict[str, Any], channel: ChannelInfo) -> dict[str, Any]:
    """The payload addressed to ``channel`` (its routing key in every entry), its messages dated now."""
    data = copy.deepcopy(data)
    now = time.time()
    for entry in data.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            meta = value.get("metadata")
            if isinstance(meta, dict):
                meta["phone_number_id"] = channel.routing_key
            for message in value.get("messages") or []:
                if isinstance(message, dict) and "timestamp" in message:
                    message["timestamp"] = str(int(now))  # WhatsApp: Unix seconds, as a string
        if entry.get("messaging"):
            entry["id"] = channel.routing_key
            for event in entry["messaging"]:
                if isinstance(event.get("recipient"), dict):
                    event["recipient"]["id"] = channel.routing_key
                if isinstance(event, dict) and "timestamp" in event:
                    event["timestamp"] = int(now * 1000)  # Messenger: milliseconds
    return data


def _twilio_for(form: dict[str, str], channel: ChannelInfo) -> dict[str, str]:
    form = dict(form)
    number = channel.phone_number or channel.routing_key
    outbound_status = "MessageStatus" in form and "Body" not in form
    side = "From" if outbound_status else "To"
    prefix = "whatsapp:" if form.get(side, "").startswith("whatsapp:") else ""
    form[side] = prefix + number
    return form


async def _channel(rt: Runtime, provider: str, data: Any, channel_id: str | None) -> ChannelInfo:
    if channel_id:
        channel = await rt.cache.channel(channel_id)
        if channel is None or channel.provider != provider:
            raise NotFound(f"no {provider} channel {channel_id!r} in this database")
        return channel

    body = json.dumps(data).encode() if provider == "meta" else urlencode(data).encode()
    raw = RawRequest("POST", "", {}, {}, body, data if provider == "twilio" else {})
    for key in rt.adapters.get(provider).routing_keys(raw):
        channel = await rt.cache.channel_by_routing_key(provider, key)
        if channel is not None:
            return channel
    raise NotFound(f"no active {provider} channel for this fixture's routing key: pass --channel ID")


def sign(
    provider: str, data: Any, channel: ChannelInfo, credentials: dict[str, Any], url: str
) -> tuple[bytes, dict]:
    if provider == "meta":
        body = json.dumps(data).encode()
        digest = hmac.new(str(credentials.get("app_secret", "")).encode(), body, hashlib.sha256).hexdigest()
        return body, {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}
    signature = twilio_signature(url, data, str(credentials.get("auth_token", "")))
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}
    return urlencode(data).encode(), headers


async def replay(
    rt: Runtime,
    files: list[Path],
    server: str,
    *,
    channel_id: str | None = None,
    public_url: str | None = None,
    wait: float = 10.0,
    on_result=None,
) -> list[Replayed]:
    server = server.rstrip("/")
    public = (public_url or rt.settings.public_url or server).rstrip("/")
    results: list[Replayed] = []
    async with httpx.AsyncClient(timeout=30) as http:
        for path in files:
            result = await _one(rt, http, path, server, public, channel_id, wait)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


async def _one(
    rt: Runtime,
    http: httpx.AsyncClient,
    path: Path,
    server: str,
    public: str,
    channel_id: str | None,
    wait: float,
) -> Replayed:
    try:
        provider, data = load(path)
        channel = await _channel(rt, provider, data, channel_id)
    except (BadRequest, NotFound, OSError) as exc:
        return Replayed(path.name, "?", 0, error=str(exc))
    if provider == "meta":
        data, route = _meta_for(data, channel), "/webhooks/meta"
    else:
        data = _twilio_for(data, channel)
        route = "/webhooks/twilio/voice?step=gather&turn=1" if "CallSid" in data else "/webhooks/twilio"
    body, headers = sign(provider, data, channel, rt.cache.credentials(channel), f"{public}{route}")
    headers["accept"] = "application/json"
    try:
        response = await http.post(f"{server}{route}", content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Replayed(path.name, provider, 0, error=f"could not reach {server}: {exc}")
    replayed = Replayed(path.name, provider, response.status_code)
    if response.headers.get("content-type", "").startswith("application/json"):
        replayed.result = response.json()
    if response.status_code >= 400:
        replayed.error = f"HTTP {response.status_code}: {_error_text(response)}"
    elif response.headers.get("content-type", "").endswith("xml"):
        replayed.result = {"stored": 1}
        replayed.replies = [response.text]
    elif replayed.result.get("message_ids"):
        replayed.replies = await _replies(rt, replayed.result["message_ids"], wait)
    return replayed


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


async def _replies(rt: Runtime, message_ids: list[int], wait: float) -> list[str]:
    """The agent's replies to the stored messages, once their turn has run (or after ``wait``)."""
    message_cols = messages.c
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        async with rt.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(message_cols.turn_id, message_cols.conversation_id).where(
                        message_cols.id.in_(message_ids)
                    )
                )
            ).all()
            turns = {r.turn_id for r in rows if r.turn_id}
            if turns and len(turns) >= 1 and all(r.turn_id for r in rows):
                out = (
                    await conn.execute(
                        sa.select(message_cols.text)
                        .where(message_cols.turn_id.in_(turns), message_cols.direction == "out")
                        .order_by(message_cols.id)
                    )
                ).scalars()
                return list(out)
        if asyncio.get_running_loop().time() > deadline:
            return []
        await asyncio.sleep(0.2)
