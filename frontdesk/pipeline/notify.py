"""Wake-ups: "conversation X has new outbound messages", "web chat visitor Y has a conversation".

Listeners (web chat streams, the terminal chat, /route/message, voice) still read the store, which
is the truth; a notification only saves them a poll. Within a process ``publish`` sets the events
of the key's subscribers. On PostgreSQL a ``Relay`` (``notify_pg.PgRelay``) carries every key to
the other processes (``frontdesk worker`` writes replies that ``frontdesk serve`` streams), which
``deliver`` it to their own subscribers. A relay that was not listening for a while (a lost
connection) wakes everyone on its return, since it may have missed something.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Protocol


class Relay(Protocol):
    """Carries keys between processes."""

    def send(self, key: str) -> None:
        """Publish ``key`` to the other processes (soon, without blocking the caller)."""

    def listen(self) -> None:
        """Start receiving other processes' keys, if not yet (idempotent)."""

    async def aclose(self) -> None:
        """Send what is still pending; stop receiving."""


def visitor_topic(channel_id: str, address: str) -> str:
    """The key published when a conversation of ``address`` on ``channel_id`` comes to exist."""
    return f"visitor:{channel_id}:{address}"


class Notifier:
    def __init__(self, relay: Relay | None = None) -> None:
        self.relay = relay
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)

    def publish(self, key: str) -> None:
        self.deliver(key)
        if self.relay is not None:
            self.relay.send(key)

    def deliver(self, key: str) -> None:
        """Wake this process's subscribers of ``key`` only."""
        for event in self._events.get(key, ()):
            event.set()

    def wake_all(self) -> None:
        for listeners in self._events.values():
            for event in listeners:
                event.set()

    @contextlib.contextmanager
    def subscribe(self, key: str, event: asyncio.Event | None = None) -> Iterator[asyncio.Event]:
        """An event set whenever ``key`` is published (pass ``event`` to have several keys set one)."""
        if self.relay is not None:
            self.relay.listen()
        event = event or asyncio.Event()
        self._events[key].add(event)
        try:
            yield event
        finally:
            listeners = self._events.get(key)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._events[key]

    async def aclose(self) -> None:
        if self.relay is not None:
            await self.relay.aclose()

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float) -> bool:
        """Wait up to ``timeout`` s for ``event``; clear it and say whether it came."""
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        event.clear()
        return True
