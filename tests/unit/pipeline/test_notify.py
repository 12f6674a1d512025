"""The notifier: local wake-ups, one event for several keys, and the relay seam."""

from __future__ import annotations

from frontdesk.pipeline.notify import Notifier


class RecordingRelay:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.listens = 0

    def send(self, key: str) -> None:
        self.sent.append(key)

    def listen(self) -> None:
        self.listens += 1

    async def aclose(self) -> None:
        pass


async def test_publish_wakes_the_keys_subscribers_only() -> None:
    notifier = Notifier()
    with notifier.subscribe("a") as a, notifier.subscribe("b") as b:
        notifier.publish("a")
        assert a.is_set() and not b.is_set()
        assert await notifier.wait(a, 0.01) is True
        assert not a.is_set()  # cleared by the wait that saw it
        assert await notifier.wait(a, 0.01) is False
    assert not notifier._events  # nothing left behind


async def test_one_event_can_listen_to_several_keys() -> None:
    notifier = Notifier()
    with notifier.subscribe("visitor") as event, notifier.subscribe("conversation", event):
        notifier.publish("conversation")
        assert event.is_set()
        event.clear()
        notifier.publish("visitor")
        assert event.is_set()


async def test_the_relay_carries_published_keys_and_delivered_ones_stay_local() -> None:
    relay = RecordingRelay()
    notifier = Notifier(relay)
    with notifier.subscribe("k") as event:
        assert relay.listens == 1
        notifier.deliver("k")  # from another process: not sent back out
        assert event.is_set() and relay.sent == []
        notifier.publish("k")
        assert relay.sent == ["k"]
        event.clear()
        notifier.wake_all()
        assert event.is_set()
