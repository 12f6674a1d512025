"""How many SSE streams one web chat session and one client address may hold open (per process).

A browser tab holds one stream; a few cover reloads and a second tab. An address holds more (an
office or a mobile carrier behind one NAT), but not the thousands that would let one client pin
the server's memory and sockets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from frontdesk.errors import RateLimited

# Retry-After of a refused stream: a closing tab's stream is released within moments.
RETRY_AFTER_SECONDS = 5.0


class StreamSlots:
    def __init__(self, per_session: int, per_address: int) -> None:
        self.per_session = per_session
        self.per_address = per_address
        self._sessions: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()

    def acquire(self, session: str, address: str) -> Callable[[], None]:
        """Take a slot for a stream of ``session`` from ``address``, or raise RateLimited.

        Returns the function that gives it back (safe to call more than once)."""
        if self._sessions[session] >= self.per_session:
            raise RateLimited(
                f"too many open streams for this chat session (limit {self.per_session}); "
                "close another tab of this chat or retry shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        if self._addresses[address] >= self.per_address:
            raise RateLimited(
                f"too many open chat streams from your address (limit {self.per_address}); "
                "close some or retry shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self._sessions[session] += 1
        self._addresses[address] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            for counter, key in ((self._sessions, session), (self._addresses, address)):
                counter[key] -= 1
                if counter[key] <= 0:
                    del counter[key]

        return release
