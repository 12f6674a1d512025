"""The rules between configuration objects, and the report that checks all of them at once.

Each rule is a small function over plain public dicts that returns an ``Issue`` (or None). The
write path feeds it the few rows a change can collide with; the report (``GET /api/v1/validation``,
import, ``frontdesk config validate``) feeds it a whole snapshot. One set of rules, one wording.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from frontdesk.config import agent_secrets, tenant_secrets
from frontdesk.config.repository import KINDS, Kind
from frontdesk.errors import ConfigError, ConflictError

Issue = dict[str, Any]  # {"code", "message", "object_type", "object_id"}
Visible = Callable[[str], bool]

CONFLICTS = frozenset(
    {"duplicate_id", "duplicate_phone", "duplicate_routing_key", "duplicate_primary", "duplicate_mapping"}
)


def issue(code: str, message: str, object_type: str, object_id: str) -> Issue:
    return {"code": code, "message": message, "object_type": object_type, "object_id": object_id}


def raise_issue(item: Issue) -> None:
    """Raise the exception a write gets for ``item``: 409 for a broken unique rule, else 422."""
    cls = ConflictError if item["code"] in CONFLICTS else ConfigError
    raise cls(item["message"], details=[item])


def build(kind: Kind, data: Any) -> Any:
    """Construct and validate ``kind``'s model; pydantic's errors become one ConfigError (422).

    The message names the object and lists every problem; ``details`` has one {field, message}
    per problem. This is the only place a ValidationError turns into a user-facing error.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a {kind.name} must be an object with fields, got {type(data).__name__}")
    if kind.name == "agent" and isinstance(data.get("config"), dict):
        data = {**data, "config": agent_secrets.strip_markers(data["config"])}  # a view's *_set flags
    if kind.name == "tenant" and isinstance(data.get("settings"), dict):
        data = {**data, "settings": tenant_secrets.strip_markers(data["settings"])}
    try:
        model = kind.model.model_validate(data)
    except ValidationError as exc:
        details = field_errors(exc)
    else:
        details = kind_rules(kind.name, model)
        if not details:
            return model
    what = f"{kind.name} {data[kind.id_field]!r}" if isinstance(data.get(kind.id_field), str) else kind.name
    problems = "; ".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details)
    raise ConfigError(f"Invalid {what}: {problems}", details=details) from None


# Checks of the free-form parts (a remote or router agent's config, a tenant's HTTP actions) belong
# to the code that runs them: ``frontdesk.agents.config_rules`` registers them and the runtime wires
# it in, so configuration never imports the agents. A rule returns [] for a model it does not check.
Rule = Callable[[Any], list[dict[str, str]]]
_RULES: dict[str, list[Rule]] = defaultdict(list)


def register_rule(kind_name: str, rule: Rule) -> None:
    """Add a check of ``kind_name``'s validated model (idempotent: a rule is kept once)."""
    if rule not in _RULES[kind_name]:
        _RULES[kind_name].append(rule)


def kind_rules(name: str, model: Any) -> list[dict[str, str]]:
    """Every registered rule's problems with ``model`` ({field, message} each)."""
    return [problem for rule in _RULES.get(name, ()) for problem in rule(model)]


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"field": field, "message": message})
    return out


# -- rules ------------------------------------------------------------------------------------


def duplicate_id(kind: Kind, object_id: str) -> Issue:
    return issue("duplicate_id", f"{kind.label} '{object_id}' already exists", kind.name, object_id)


def unknown_tenant(object_type: str, object_id: str, tenant_id: str) -> Issue:
    return issue("unknown_tenant", f"tenant '{tenant_id}' does not exist", object_type, object_id)


def _who(other: dict[str, Any], visible: Visible) -> str:
    # Never name another tenant's channel to a tenant token: that would leak it.
    if visible(other["tenant_id"]):
        return f"channel {other['channel_id']}"
    return "an active channel of another tenant"


def phone_conflict(
    channel: dict[str, Any], others: Iterable[dict[str, Any]], visible: Visible
) -> Issue | None:
    """Each phone number belongs to at most one active channel."""
    phone = channel.get("phone_number")
    if not channel.get("active") or not phone:
        return None
    for other in others:
        if (
            other["channel_id"] != channel["channel_id"]
            and other["active"]
            and other["phone_number"] == phone
        ):
            message = f"Phone number {phone} already used by {_who(other, visible)}"
            return issue("duplicate_phone", message, "channel", channel["channel_id"])
    return None


def routing_conflict(
    channel: dict[str, Any], others: Iterable[dict[str, Any]], visible: Visible
) -> Issue | None:
    """A provider's identity (routing key) points at one active channel, so inbound traffic is unambiguous."""
    if not channel.get("active"):
        return None
    key, provider = channel.get("routing_key"), channel.get("provider")
    for other in others:
        if (
            other["channel_id"] != channel["channel_id"]
            and other["active"]
            and other["provider"] == provider
            and other["routing_key"] == key
        ):
            message = f"Routing key '{key}' for provider '{provider}' already used by {_who(other, visible)}"
            return issue("duplicate_routing_key", message, "channel", channel["channel_id"])
    return None


def mapping_refs(
    mapping: dict[str, Any], agent: dict[str, Any] | None, channel: dict[str, Any] | None
) -> list[Issue]:
    """A mapping joins an agent and a channel of its own tenant (another tenant's count as missing)."""
    out = []
    tenant, mid = mapping["tenant_id"], mapping["mapping_id"]
    if agent is None or agent["tenant_id"] != tenant:
        out.append(
            issue(
                "unknown_agent",
                f"Agent '{mapping['agent_id']}' not found in tenant '{tenant}'",
                "mapping",
                mid,
            )
        )
    if channel is None or channel["tenant_id"] != tenant:
        out.append(
            issue(
                "unknown_channel",
                f"Channel '{mapping['channel_id']}' not found in tenant '{tenant}'",
                "mapping",
                mid,
            )
        )
    return out


def mapping_conflict(mapping: dict[str, Any], siblings: Iterable[dict[str, Any]]) -> Issue | None:
    """``siblings``: the other mappings of the same channel. One primary each; one mapping per agent."""
    mid, cid = mapping["mapping_id"], mapping["channel_id"]
    for other in siblings:
        if other["mapping_id"] == mid or other["channel_id"] != cid:
            continue
        if other["agent_id"] == mapping["agent_id"]:
            agent = mapping["agent_id"]
            message = f"Agent '{agent}' is already mapped to channel '{cid}' (mapping {other['mapping_id']})"
            return issue("duplicate_mapping", message, "mapping", mid)
        if mapping.get("is_primary") and other["is_primary"]:
            message = f"Channel '{cid}' already has a primary agent (mapping {other['mapping_id']})"
            return issue("duplicate_primary", message, "mapping", mid)
    return None


def route_targets(agent: dict[str, Any]) -> list[str]:
    """The agent ids a router's routes name (none for other kinds)."""
    if agent.get("kind") != "router" or not isinstance(agent.get("config"), dict):
        return []
    routes = agent["config"].get("routes")
    if not isinstance(routes, list):
        return []
    return [r["agent_id"] for r in routes if isinstance(r, dict) and isinstance(r.get("agent_id"), str)]


def router_refs(agent: dict[str, Any], others: dict[str, dict[str, Any]]) -> list[Issue]:
    """A router routes to other agents of its own tenant (another tenant's count as missing), not routers."""
    out = []
    aid, tenant = agent["agent_id"], agent["tenant_id"]
    for target_id in route_targets(agent):
        target = others.get(target_id)
        if target_id == aid:
            message = f"Router '{aid}' cannot route to itself"
        elif target is None or target["tenant_id"] != tenant:
            message = f"Router '{aid}' routes to agent '{target_id}', which is not found in tenant '{tenant}'"
        elif target["kind"] == "router":
            message = f"Router '{aid}' routes to '{target_id}', another router; routers cannot be chained"
        else:
            continue
        out.append(issue("unknown_route_agent", message, "agent", aid))
    return out


# -- the report ---------------------------------------------------------------------------------


def report(
    snap: dict[str, dict[str, dict[str, Any]]],
    *,
    scope: str | None = None,
    visible: Visible = lambda _t: True,
    knowledge: dict[str, int] | None = None,
    extra_errors: list[Issue] | None = None,
) -> dict[str, Any]:
    """Check a whole snapshot ``{kind: {id: public dict}}``; keep the issues of tenant ``scope``.

    Of two objects that collide, the later one in the snapshot's order is reported.
    """
    tenants, agents, channels, mappings = (snap.get(k, {}) for k in ("tenant", "agent", "channel", "mapping"))
    errors: list[Issue] = list(extra_errors or [])
    warnings: list[Issue] = []
    owner: dict[tuple[str, str], str] = {}

    for kind in ("agent", "channel", "mapping"):
        for oid, obj in snap.get(kind, {}).items():
            owner[(kind, oid)] = obj["tenant_id"]
            if obj["tenant_id"] not in tenants:
                errors.append(unknown_tenant(kind, oid, obj["tenant_id"]))

    # Snapshot order matters: stored objects come first (by id), then what a file adds, so a
    # conflict is blamed on the newcomer.
    active = [c for c in channels.values() if c["active"]]
    by_phone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for ch in active:
        if ch["phone_number"]:
            by_phone[ch["phone_number"]].append(ch)
        by_key[(ch["provider"], ch["routing_key"])].append(ch)
    # The first channel keeps the number or key; every later one is in error.
    for rule, groups in ((phone_conflict, by_phone.values()), (routing_conflict, by_key.values())):
        for group in groups:
            for i, ch in enumerate(group):
                found = rule(ch, group[:i], visible)
                if found:
                    errors.append(found)

    per_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    per_agent: dict[str, int] = defaultdict(int)
    for m in mappings.values():
        errors.extend(mapping_refs(m, agents.get(m["agent_id"]), channels.get(m["channel_id"])))
        found = mapping_conflict(m, per_channel[m["channel_id"]])
        if found:
            errors.append(found)
        per_channel[m["channel_id"]].append(m)
        per_agent[m["agent_id"]] += 1

    for cid, ch in channels.items():
        linked = per_channel.get(cid, [])
        if ch["active"] and not linked:
            warnings.append(
                issue(
                    "channel_without_agent",
                    f"Channel '{cid}' has no agent: its messages will not be answered",
                    "channel",
                    cid,
                )
            )
        elif not ch["active"] and linked:
            message = f"Channel '{cid}' is inactive but still has {len(linked)} mapping(s)"
            warnings.append(issue("inactive_channel_mapped", message, "channel", cid))
        elif ch["active"] and not any(m["is_primary"] for m in linked):
            message = f"Channel '{cid}' has no primary agent; the mapping with the lowest priority is used"
            warnings.append(issue("no_primary_agent", message, "channel", cid))
    for aid, agent in agents.items():
        if not per_agent.get(aid):
            warnings.append(
                issue("agent_without_channel", f"Agent '{aid}' is not mapped to any channel", "agent", aid)
            )
        if agent["status"] == "active" and agent["kind"] == "remote" and not agent["config"].get("url"):
            message = (
                f"Agent '{aid}' has no config.url: Frontdesk calls remote agents there with its own "
                "contract (docs/remote-agents.md), so until a bridge to its foundry_endpoint is set, its "
                "messages get the fallback reply and go to a person"
            )
            warnings.append(issue("kind_not_available", message, "agent", aid))
        errors.extend(router_refs(agent, agents))

    def mine(item: Issue) -> bool:
        if scope is None:
            return True
        if item["object_type"] == "tenant":
            return item["object_id"] == scope
        return owner.get((item["object_type"], item["object_id"]), scope) == scope

    errors, warnings = [e for e in errors if mine(e)], [w for w in warnings if mine(w)]
    return {
        "valid": not errors,
        "errors": errors,
        "warnings": warnings,
        "summary": summary(snap, scope, knowledge or {}, len(errors), len(warnings)),
    }


def summary(
    snap: dict[str, dict[str, dict[str, Any]]],
    scope: str | None,
    knowledge: dict[str, int],
    errors: int,
    warnings: int,
) -> dict[str, Any]:
    def objs(kind: str) -> list[dict[str, Any]]:
        return [o for o in snap.get(kind, {}).values() if scope is None or o["tenant_id"] == scope]

    return {
        "tenants": len(objs("tenant")),
        "agents": len(objs("agent")),
        "channels": len(objs("channel")),
        "active_channels": sum(1 for c in objs("channel") if c["active"]),
        "mappings": len(objs("mapping")),
        "knowledge": sum(n for t, n in knowledge.items() if scope is None or t == scope),
        "errors": errors,
        "warnings": warnings,
    }


def immutable_message(k: Kind, field: str) -> str:
    if k.name == "channel" and field == "channel_id":
        return (
            "channel_id cannot be changed; to set the provider's id for this channel (Meta phone_number_id, "
            "ACS channel registration id, …) set routing_key"
        )
    if field == "tenant_id":
        return f"tenant_id of {k.name} cannot be changed; export it, edit the file and import it instead"
    return f"{field} cannot be changed; delete the {k.name} and create a new one"


def stored_errors(snap: dict[str, dict[str, dict[str, Any]]]) -> list[Issue]:
    """Stored objects that no longer pass their model (legacy data, a hand-edited database)."""
    out = []
    for name, objs in snap.items():
        k = KINDS[name]
        for oid, obj in objs.items():
            data = {f: obj[f] for f in k.fields if f in obj}
            if "credentials_set" in obj:  # the values stay encrypted: which fields are set is enough
                data["credentials"] = dict.fromkeys(obj["credentials_set"], "set")
            try:
                build(k, data)
            except ConfigError as exc:
                out.append(issue("invalid_object", exc.message, name, oid))
    return out
