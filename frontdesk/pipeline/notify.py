"""In-process wake-ups: "conversation X has new outbound messages".

Listeners (web chat streams, the terminal chat, /route/message) still read the store, which is the
truth; a notification only saves them a poll. Streams served by another process fall back to
polling at a short interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class Notifier:
    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)

    def publish(self, key: str) -> None:
        for event in self._events.get(key, ()):
            event.set()

    @contextlib.contextmanager
    def subscribe(self, key: str):  # type: ignore[no-untyped-def]
        event = asyncio.Event()
        self._events[key].add(event)
        try:
            yield event
        finally:
            listeners = self._events.get(key)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._events[key]

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        event.clear()
        return True
