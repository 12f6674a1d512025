"""Configuration statistics (``/config/api/stats``, ``/route/stats``), computed from a snapshot."""

from __future__ import annotations

from collections import Counter
from typing import Any


def _counts(items: list[dict[str, Any]], field: str) -> dict[str, int]:
    return dict(sorted(Counter(str(i[field]) for i in items).items()))


def compute(snap: dict[str, dict[str, dict[str, Any]]], knowledge: int = 0) -> dict[str, Any]:
    """Counts of agents, channels and mappings by kind/status/type/provider, plus active routes.

    An active route is a mapping whose channel is active: inbound messages will reach its agent.
    """
    agents = list(snap.get("agent", {}).values())
    channels = snap.get("channel", {})
    mappings = list(snap.get("mapping", {}).values())
    routes = [m for m in mappings if channels.get(m["channel_id"], {}).get("active")]
    return {
        "tenants": len(snap.get("tenant", {})),
        "agents": {
            "total": len(agents),
            "by_kind": _counts(agents, "kind"),
            "by_status": _counts(agents, "status"),
        },
        "channels": {
            "total": len(channels),
            "active": sum(1 for c in channels.values() if c["active"]),
            "by_type": _counts(list(channels.values()), "channel_type"),
            "by_provider": _counts(list(channels.values()), "provider"),
        },
        "mappings": {"total": len(mappings), "primary": sum(1 for m in mappings if m["is_primary"])},
        "knowledge": knowledge,
        "routes": {
            "total_active": len(routes),
            "by_channel_type": dict(
                sorted(Counter(channels[m["channel_id"]]["channel_type"] for m in routes).items())
            ),
            "by_agent": _counts(routes, "agent_id"),
        },
    }
