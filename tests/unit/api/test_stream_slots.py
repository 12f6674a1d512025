"""Stream caps: per session, per address, released once."""

from __future__ import annotations

import pytest

from frontdesk.api.stream_slots import StreamSlots
from frontdesk.errors import RateLimited


def test_caps_per_session_and_per_address() -> None:
    slots = StreamSlots(per_session=2, per_address=3)
    first = slots.acquire("s1", "10.0.0.1")
    slots.acquire("s1", "10.0.0.1")
    with pytest.raises(RateLimited, match=r"chat session \(limit 2\)"):
        slots.acquire("s1", "10.0.0.2")
    slots.acquire("s2", "10.0.0.1")
    with pytest.raises(RateLimited, match=r"from your address \(limit 3\)") as refused:
        slots.acquire("s3", "10.0.0.1")
    assert refused.value.retry_after >= 1
    slots.acquire("s3", "10.0.0.2")  # another address is not affected
    first()
    first()  # a second release changes nothing
    slots.acquire("s1", "10.0.0.1")
    with pytest.raises(RateLimited):
        slots.acquire("s4", "10.0.0.1")
