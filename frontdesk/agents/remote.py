"""The remote agent: the business's own agent behind an HTTPS endpoint (docs/remote-agents.md).

Frontdesk POSTs each turn as JSON, signed the Standard Webhooks way, and expects
``{"replies": [...], "confidence"?: 0..1, "handoff"?: bool, "reason"?: str, "buttons"?: [str]}``.
Network errors and 5xx answers are retried (same ``webhook-id``, fresh timestamp and signature);
a 4xx, a timeout or an answer that is not that shape gives the customer the fallback text and
flags the conversation for a person. Every call leaves a ``remote_call`` step in the reply's trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import time
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from frontdesk.agents.base import Agent
from frontdesk.agents.deps import AgentDeps
from frontdesk.channels.formatting import clean_choices
from frontdesk.config.agent_secrets import agent_secret
from frontdesk.errors import BadAnswer, ConfigError, OutboundError
from frontdesk.model.config import FaqAgentSettings
from frontdesk.model.messages import AgentReply, HistoryMessage, Turn
from frontdesk.security import webhook_signing
from frontdesk.security.ssrf import allow_list, fetch
from frontdesk.store.tables import contacts

BACKOFF_S = 0.2  # first pause between attempts; doubled each time


class RemoteSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    url: str | None = None
    secret: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=5)
    fallback_text: str = FaqAgentSettings().fallback_text


def parse_answer(body: bytes) -> AgentReply:
    """A remote agent's answer (texts, confidence, handoff, reason, buttons); BadAnswer if malformed."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadAnswer("the answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("replies"), list):
        raise BadAnswer('the answer must be an object with a "replies" list')
    texts = []
    for i, item in enumerate(data["replies"]):
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            raise BadAnswer(f'replies[{i}] must be a string or an object with a "text" string')
        if text.strip():
            texts.append(text)
    confidence = data.get("confidence", 1.0)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise BadAnswer('"confidence" must be a number from 0 to 1')
    handoff = data.get("handoff", False)
    if not isinstance(handoff, bool):
        raise BadAnswer('"handoff" must be true or false')
    reason = data.get("reason")
    if "buttons" in data and not isinstance(data["buttons"], list):
        raise BadAnswer('"buttons" must be a list of short strings')
    return AgentReply(
        texts=texts,
        confidence=float(confidence),
        handoff=handoff,
        reason=reason if isinstance(reason, str) and reason else None,
        buttons=clean_choices(data.get("buttons")),
    )


def _message(m: HistoryMessage) -> dict[str, Any]:
    created = m.created_at.isoformat() if m.created_at is not None else None
    return {"id": m.id, "direction": m.direction, "text": m.text, "kind": m.kind, "created_at": created}


class RemoteAgent(Agent):
    def __init__(self, deps: AgentDeps, agent_info: Any) -> None:
        self.deps = deps
        self.info = agent_info
        self.settings = RemoteSettings.model_validate(agent_info.config or {})

    async def payload(self, turn: Turn) -> dict[str, Any]:
        """What the endpoint receives for ``turn``."""
        async with self.deps.db.read() as conn:
            contact = (
                await conn.execute(
                    sa.select(contacts.c.display_name, contacts.c.phone_e164).where(
                        contacts.c.contact_id == turn.contact_id, contacts.c.tenant_id == turn.tenant_id
                    )
                )
            ).first()
        tenant = {
            "id": turn.tenant_id,
            "name": turn.tenant.get("name"),
            "timezone": turn.tenant.get("timezone"),
        }
        return {
            "type": "frontdesk.turn",
            "version": 1,
            "tenant": tenant,
            "agent_id": self.info.agent_id,
            "channel": {"id": turn.channel_id, "type": turn.channel_type},
            "contact": {
                "id": turn.contact_id,
                "name": turn.contact_name or (contact.display_name if contact else None),
                "phone": contact.phone_e164 if contact else None,
                "address": getattr(turn, "contact_address", "") or None,
            },
            "conversation_id": turn.conversation_id,
            "messages": [_message(m) for m in turn.new_messages],
            "history": [_message(m) for m in turn.history],
        }

    async def reply(self, turn: Turn) -> AgentReply:
        url = self.settings.url
        if not url:
            return self._fallback(
                _step(None, attempts=0),
                "no config.url (an Azure AI Foundry agent needs a bridge speaking the remote agent "
                "contract, see docs/remote-agents.md)",
            )
        try:
            secret = agent_secret(self.deps.secrets, self.info, "secret")
        except ConfigError as exc:  # the secret key changed under the stored secret
            return self._fallback(_step(url, attempts=0), exc.message)
        body = json.dumps(await self.payload(turn), separators=(",", ":"), ensure_ascii=False).encode()
        last = turn.new_messages[-1].id if turn.new_messages else 0
        msg_id = "msg_" + hashlib.sha256(f"{turn.conversation_id}:{last}".encode()).hexdigest()[:24]
        step, answer = await self._call(url, msg_id, body, secret)
        if answer is None:
            return self._fallback(step, step["error"])
        try:
            reply = parse_answer(answer)
        except BadAnswer as exc:
            step["error"] = str(exc)
            return self._fallback(step, str(exc))
        if reply.handoff and not reply.reason:
            reply.reason = "the remote agent asked for a person"
        reply.reason = reply.reason and f"remote: {reply.reason}"
        reply.trace = [step]
        return reply

    async def _call(
        self, url: str, msg_id: str, body: bytes, secret: str | None
    ) -> tuple[dict[str, Any], bytes | None]:
        """POST with retries: (the trace step, the 2xx body or None)."""
        allow = allow_list(self.deps.settings)
        step = _step(url)
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            step["status"] = None
            headers = {"content-type": "application/json", "user-agent": "frontdesk-remote-agent/1"}
            headers.update(webhook_signing.headers(secret, msg_id, body))
            retry = False
            try:
                got = await fetch(
                    "POST",
                    url,
                    allow=allow,
                    headers=headers,
                    content=body,
                    timeout=self.settings.timeout_s,
                )
            except OutboundError as exc:
                step["error"], retry = exc.message, exc.retryable
            else:
                step["status"] = got.status
                if 200 <= got.status < 300:
                    step.pop("error", None)
                    return self._done(step, started, attempts), got.body
                step["error"] = f"HTTP {got.status}"
                retry = got.status >= 500
            if not retry or attempts > self.settings.retries:
                return self._done(step, started, attempts), None
            await asyncio.sleep(BACKOFF_S * 2 ** (attempts - 1))

    @staticmethod
    def _done(step: dict[str, Any], started: float, attempts: int) -> dict[str, Any]:
        step["latency_ms"] = int((time.monotonic() - started) * 1000)
        step["attempts"] = attempts
        return step

    def _fallback(self, step: dict[str, Any], error: str) -> AgentReply:
        return AgentReply(
            texts=[self.settings.fallback_text],
            confidence=0.0,
            handoff=True,
            reason=f"remote agent failed: {error}",
            trace=[step],
            error=error,
        )


def _step(url: str | None, **done: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"type": "remote_call", "url_host": _host(url) if url else None, "status": None}
    if done:
        step.update(latency_ms=0, **done)
    return step


def _host(url: str) -> str | None:
    try:
        return httpx.URL(url).host or None
    except httpx.InvalidURL:
        return None


def config_errors(config: dict[str, Any], settings: Any) -> list[dict[str, str]]:
    """Problems of a remote agent's ``config`` as {field, message} (empty: fine)."""
    try:
        parsed = RemoteSettings.model_validate(config)
    except ValidationError as exc:
        return [
            {
                "field": ".".join(["config", *map(str, e["loc"])]),
                "message": e["msg"].removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
    out = []
    problem = url_problem(parsed.url, settings) if parsed.url else None
    if problem:
        out.append({"field": "config.url", "message": problem})
    problem = webhook_signing.check_secret(parsed.secret) if parsed.secret else None
    if problem:
        out.append({"field": "config.secret", "message": problem})
    return out


def url_problem(url: str, settings: Any) -> str | None:
    """What is wrong with ``url`` as a tenant-configured endpoint: https, except hosts the operator allows."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"{url!r} is not a URL ({exc})"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"{url!r} must be an https:// URL with a host"
    if parsed.scheme == "http" and not (
        getattr(settings, "dev_mode", False) or _allow_listed(parsed.host, settings)
    ):
        return (
            f"{url!r} must use https:// (plain http only for hosts in FRONTDESK_HTTP_ACTIONS_ALLOW, "
            "or in development mode)"
        )
    return None


def _allow_listed(host: str, settings: Any) -> bool:
    allow = allow_list(settings)
    if allow.allows_host(host):
        return True
    try:
        return allow.allows_ip(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return False
