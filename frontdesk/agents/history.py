"""A turn's history as model messages: the last N, other channels' included, cut to the budget.

The budget is in characters (about four per token for the languages customers write in): counting
exact tokens would need the model's tokenizer, which an OpenAI-compatible endpoint does not expose.
The oldest messages go first; the new messages of the turn are never cut.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart

from frontdesk.model.messages import HistoryMessage, Turn

_EPOCH = datetime.min.replace(tzinfo=UTC)


def content(message: HistoryMessage) -> str:
    text = (message.text or "").strip()
    if message.kind and message.kind != "text":
        return f"[{message.kind}] {text}".strip()
    return text


def user_prompt(turn: Turn) -> str:
    return "\n".join(filter(None, (content(m) for m in turn.new_messages))) or "(an empty message)"


def _at(message: HistoryMessage) -> datetime:
    at = message.created_at
    if at is None:
        return _EPOCH
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def entries(turn: Turn, limit: int) -> list[tuple[str, str]]:
    """(direction, content) of the history to send, oldest first, at most ``limit``."""
    items = [(_at(m), m.direction, content(m)) for m in turn.history]
    for channel, m in turn.cross_channel_history:
        label = "the customer" if m.direction == "in" else "you"
        items.append((_at(m), m.direction, f"(earlier, {label} on {channel}) {content(m)}"))
    items.sort(key=lambda item: item[0])  # stable: same-instant messages keep their order
    return [(direction, text) for _, direction, text in items[-limit:] if text] if limit > 0 else []


def trim(items: list[tuple[str, str]], budget: int) -> list[tuple[str, str]]:
    """The newest items whose contents fit in ``budget`` characters."""
    kept: list[tuple[str, str]] = []
    used = 0
    for direction, text in reversed(items):
        used += len(text)
        if used > budget:
            break
        kept.append((direction, text))
    kept.reverse()
    return kept


def to_messages(items: list[tuple[str, str]]) -> list[ModelMessage]:
    out: list[ModelMessage] = []
    for direction, text in items:
        if direction == "in":
            out.append(ModelRequest(parts=[UserPromptPart(text)]))
        else:
            out.append(ModelResponse(parts=[TextPart(text)]))
    return out


def history_messages(turn: Turn, limit: int, budget: int) -> list[ModelMessage]:
    return to_messages(trim(entries(turn, limit), budget))
