"""Wake-ups: "conversation X has new outbound messages", "web chat visitor Y has a conversation".

Listeners (web chat streams, the terminal chat, /route/message, voice) still read the store, which
is the truth; a notification only saves them a poll. Within a process ``publish`` sets the events
of the key's subscribers. On PostgreSQL a ``Relay`` (``notify_pg.PgRelay``) carries every key to
the other processes (``frontdesk worker`` writes replies that ``frontdesk serve`` streams), which
``deliver`` it to their own subscribers. A relay that was not listening for a while (a lost
connection) wakes everyone on its return, since it may have missed something.

A publisher in this process that has just committed what it announces may pass it along
(``publish(key, items)``: a turn's replies as written). A subscriber's ``Wakeup`` collects them
until it ``take``s them, and says instead that the store must be read if anything was published
without its items (another writer, another process, ``wake_all``): a web chat stream answered by
the turn it waits for then needs no read of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

MAX_ITEMS = 256  # items a Wakeup keeps untaken; beyond, its subscriber reads the store instead


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


class Wakeup(asyncio.Event):
    """A subscriber's event, with the items published with it since the last ``take``."""

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []
        self._stale = False  # something was published without its items

    def _deliver(self, items: Sequence[Any] | None) -> None:
        if items is None or self._stale or len(self._items) + len(items) > MAX_ITEMS:
            self._stale = True
            self._items = []
        else:
            self._items.extend(items)
        self.set()

    def take(self) -> list[Any] | None:
        """The items published since the last take; None if the store must be read instead."""
        items, stale = self._items, self._stale
        self._items, self._stale = [], False
        return None if stale else items


class Notifier:
    def __init__(self, relay: Relay | None = None) -> None:
        self.relay = relay
        self._events: dict[str, set[Wakeup]] = defaultdict(set)

    def publish(self, key: str, items: Sequence[Any] | None = None) -> None:
        """Wake the subscribers of ``key``, here with ``items`` (what was committed, if given) and
        in the other processes (the key alone)."""
        self.deliver(key, items)
        if self.relay is not None:
            self.relay.send(key)

    def deliver(self, key: str, items: Sequence[Any] | None = None) -> None:
        """Wake this process's subscribers of ``key`` only."""
        for event in self._events.get(key, ()):
            event._deliver(items)

    def wake_all(self) -> None:
        for listeners in self._events.values():
            for event in listeners:
                event._deliver(None)

    @contextlib.contextmanager
    def subscribe(self, key: str, event: Wakeup | None = None) -> Iterator[Wakeup]:
        """An event set whenever ``key`` is published (pass ``event`` to have several keys set one)."""
        if self.relay is not None:
            self.relay.listen()
        event = event if event is not None else Wakeup()
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
