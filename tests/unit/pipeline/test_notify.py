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


async def test_items_published_with_a_key_are_handed_over_unless_something_came_without() -> None:
    notifier = Notifier()
    with notifier.subscribe("visitor") as event, notifier.subscribe("conversation", event):
        notifier.publish("conversation", [1])
        notifier.publish("conversation", [2, 3])
        assert await notifier.wait(event, 0.01) is True
        assert event.take() == [1, 2, 3]
        assert event.take() == []  # taken once
        notifier.publish("conversation", [4])
        notifier.publish("visitor")  # without its items: the subscriber must read the store
        assert event.take() is None
        notifier.publish("conversation", [5])
        notifier.wake_all()  # e.g. the relay back from a lost connection
        assert event.take() is None
        assert event.take() == []
