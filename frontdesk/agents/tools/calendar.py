"""Placeholder: filled in by the calendar tools work."""

from __future__ import annotations

from frontdesk.agents.tools.base import Tool

TOOLS: list[Tool] = []
