"""Placeholder: agent Markdown → each channel's format, split to the channel's limits."""

from __future__ import annotations


def render(text: str, channel_type: str, provider: str = "") -> list[str]:
    """The parts to send, in order, for one agent reply on this kind of channel."""
    return [text]
