"""The web chat's per-session message limit: a moving window kept in this process.

At most ``amount`` messages in any ``window`` seconds per key. Each key keeps the times of its hits
within the window (a deque: the oldest leave from the left), so a hit costs O(1) amortized; keys
idle for a whole window are swept now and then. It replaces ``limits``' in-memory moving window,
whose every hit scheduled a sweep of all keys with a thread hand-off per key.
"""

from __future__ import annotations

import time
from collections import deque


class MovingWindow:
    def __init__(self) -> None:
        self._hits: dict[tuple, tuple[float, deque[float]]] = {}
        self._sweep_at = 0.0

    def hit(self, key: tuple, amount: int, window: float) -> float | None:
        """Count a hit of ``key``; None if allowed, else the seconds until the next one would be."""
        now = time.monotonic()
        entry = self._hits.get(key)
        if entry is None:
            entry = self._hits[key] = (window, deque())
        hits = entry[1]
        cutoff = now - window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= amount:
            return hits[0] + window - now
        hits.append(now)
        if now >= self._sweep_at:
            self._sweep(now)
        return None

    def _sweep(self, now: float) -> None:
        idle = [k for k, (window, hits) in self._hits.items() if not hits or hits[-1] <= now - window]
        for key in idle:
            del self._hits[key]
        self._sweep_at = now + 60.0

    def __len__(self) -> int:
        return len(self._hits)
