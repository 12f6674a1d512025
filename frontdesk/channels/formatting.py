"""Agent Markdown → each channel's format, split to the channel's limits (``Capabilities``).

Agents write Markdown. WhatsApp gets its own markers (``*bold*``, ``_italic_``, ``~strike~``,
```` ```mono``` ````), Messenger, Instagram and SMS get plain text, Telegram keeps the Markdown,
and email, web chat and voice get the text as written, unsplit. The Markdown is parsed with
markdown-it-py (CommonMark), so ``5 * 3`` or ``snake_case`` are not mistaken for emphasis.

SMS is rendered to cost as few segments as possible: typographic characters that force UCS-2
(curly quotes, dashes, ellipsis, non-breaking spaces, bullets) become their GSM-7 equivalents
whenever that makes the message GSM-7; real non-GSM text (emoji, Greek lower case, CJK) is kept.

Splitting prefers paragraph boundaries, then line, sentence and word boundaries, and hard-cuts only
a single word longer than the limit. At each of those levels it first avoids cutting inside a
formatting span (a code fence or a one-line ``*…*``/``_…_``/``~…~``); a span longer than the limit
is cut anyway, and a code fence cut in two is not re-closed and re-opened in the next part.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from frontdesk.channels.capabilities import Capabilities
from frontdesk.channels.segments import is_gsm7

# What every channel with buttons can show, WhatsApp's reply buttons being the narrowest: agents
# keep their choices to it.
MAX_BUTTONS = 3
BUTTON_TITLE_CHARS = 20


def render_buttons(text: str, buttons: Sequence[dict[str, str]], capabilities: Capabilities) -> str:
    """The text to send with ``buttons``: unchanged where the channel shows buttons, else a numbered list."""
    if not buttons or capabilities.buttons is not None:
        return text
    choices = "\n".join(f"{n}. {button['title']}" for n, button in enumerate(buttons, start=1))
    return f"{text.rstrip()}\n\n{choices}" if text.strip() else choices


def clean_choices(values: Any) -> list[str]:
    """An agent's choices cut to what every channel can show: distinct, non-empty, at most
    ``MAX_BUTTONS`` of at most ``BUTTON_TITLE_CHARS`` characters (rather than fail a turn over a label)."""
    if not isinstance(values, list):
        return []
    titles = [" ".join(str(t).split())[:BUTTON_TITLE_CHARS] for t in values if isinstance(t, str | int)]
    return list(dict.fromkeys(t for t in titles if t))[:MAX_BUTTONS]


def render_reply(
    text: str, buttons: Sequence[str], capabilities: Capabilities
) -> list[tuple[str, dict | None]]:
    """The parts to send for one agent reply with its choices: (text, payload) each.

    Where the channel shows buttons, the last part carries them (``{"buttons": [{id, title}]}``);
    elsewhere, or when that part is too long to sit above buttons, they become a numbered list.
    """
    choices = [{"id": f"choice_{n}", "title": title} for n, title in enumerate(buttons, start=1)]
    shown = capabilities.buttons
    if choices and shown is not None:
        parts = render(text, capabilities)
        if parts and (shown.body_limit is None or len(parts[-1]) <= shown.body_limit):
            return [(part, None) for part in parts[:-1]] + [(parts[-1], {"buttons": choices})]
    if choices:
        text = f"{text.rstrip()}\n\n" + "\n".join(f"{n}. {c['title']}" for n, c in enumerate(choices, 1))
    return [(part, None) for part in render(text, capabilities)]


def render(text: str, capabilities: Capabilities) -> list[str]:
    """The parts to send, in order, for one agent reply on a channel with these capabilities."""
    limit, markup = capabilities.text_limit, capabilities.markup
    if markup == "speech":  # spoken by text-to-speech: Markdown markers would be read out
        plain = markdown_to_text(text, whatsapp=False).strip()
        return [plain] if plain else []
    if markup == "verbatim" or limit is None:
        return [text] if text.strip() else []
    marked = text if markup == "markdown" else markdown_to_text(text, whatsapp=markup == "whatsapp")
    if capabilities.segments is not None:
        return _render_sms(marked, limit)
    return split_text(marked, limit)


# --- Markdown → WhatsApp markers or plain text -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Marks:
    strong: str
    em: str
    strike: str
    mono: str
    fence: str


_WHATSAPP = _Marks(strong="*", em="_", strike="~", mono="```", fence="```")
_PLAIN = _Marks(strong="", em="", strike="", mono="", fence="")
_MD = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_WRAPS = {"strong": "strong", "em": "em", "s": "strike"}


def markdown_to_text(text: str, *, whatsapp: bool) -> str:
    """Markdown as WhatsApp-formatted text (``whatsapp=True``) or as plain text."""
    return _blocks(SyntaxTreeNode(_MD.parse(text)).children, _WHATSAPP if whatsapp else _PLAIN, "\n\n")


def _blocks(nodes: Sequence[SyntaxTreeNode], marks: _Marks, sep: str) -> str:
    return sep.join(rendered for node in nodes if (rendered := _block(node, marks)))


def _block(node: SyntaxTreeNode, marks: _Marks) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline(node, marks)
    if kind == "heading":
        # Bold inside a heading would double the heading's own markers (``**Title**``).
        return _wrap(_inline(node, replace(marks, strong="")), marks.strong)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, marks)
    if kind in ("fence", "code_block"):
        code = node.content.rstrip("\n")
        return f"{marks.fence}\n{code}\n{marks.fence}" if marks.fence else code
    if kind == "blockquote":
        return _indent(_blocks(node.children, marks, "\n\n"), "> ", "> ")
    if kind == "hr":
        return "———"
    return node.content.strip()


def _list(node: SyntaxTreeNode, marks: _Marks) -> str:
    tight = all(p.hidden for item in node.children for p in item.children if p.type == "paragraph")
    items = []
    for item in node.children:
        marker = "• " if node.type == "bullet_list" else f"{item.info}{item.markup} "
        body = _blocks(item.children, marks, "\n" if tight else "\n\n")
        items.append(_indent(body, marker, " " * len(marker)))
    return ("\n" if tight else "\n\n").join(items)


def _indent(body: str, first: str, rest: str) -> str:
    lines = body.split("\n")
    return "\n".join([first + lines[0], *((rest + line) if line else line for line in lines[1:])])


def _inline(block: SyntaxTreeNode, marks: _Marks) -> str:
    return "".join(_spans(inline.children, marks) for inline in block.children)


def _spans(nodes: Sequence[SyntaxTreeNode], marks: _Marks) -> str:
    return "".join(_span(node, marks) for node in nodes)


def _span(node: SyntaxTreeNode, marks: _Marks) -> str:
    kind = node.type
    if kind == "text":
        return node.content
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind in _WRAPS:
        return _wrap(_spans(node.children, marks), getattr(marks, _WRAPS[kind]))
    if kind == "code_inline":
        return _wrap(node.content, marks.mono)
    if kind in ("link", "image"):
        target = str(node.attrs.get("href") or node.attrs.get("src") or "")
        return _link(_spans(node.children, marks), target)
    return node.content


def _wrap(text: str, marker: str) -> str:
    return f"{marker}{text}{marker}" if marker and text else text


def _link(label: str, target: str) -> str:
    # Autolinks (<https://…>, <a@b.example>) show their target already: no "x (x)" repetition.
    if not label or label == target or f"mailto:{label}" == target:
        return label or target
    return f"{label} ({target})" if target else label


# --- Splitting ---------------------------------------------------------------------------------

_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_LINE = re.compile(r"\n\s*")
_SENTENCE = re.compile("(?:(?<=[.!?])|(?<=[.!?][\"')\\]\u201d\u2019]))\\s+")
_WORD = re.compile(r"\s+")
_SPAN = re.compile(r"```.*?```|\*[^*\n]+\*|_[^_\n]+_|~[^~\n]+~", re.S)
# Each boundary kind first while keeping formatting spans whole, then again cutting through them.
_LEVELS = [(p, keep) for keep in (True, False) for p in (_PARAGRAPH, _LINE, _SENTENCE, _WORD)]


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at the largest boundary that fits."""
    text = text.strip()
    return _split(text, limit, 0) if text else []


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    if level == len(_LEVELS):
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, *_LEVELS[level]):
        if len((current + piece).rstrip()) <= limit:
            current += piece
            continue
        if current.strip():
            parts.append(current.strip())
        if len(piece.rstrip()) <= limit:
            current = piece
            continue
        # The oversized piece's tail stays open, so what follows may still share its part.
        *done, tail = _split(piece.rstrip(), limit, level + 1)
        parts.extend(done)
        current = tail + piece[len(piece.rstrip()) :]
    if current.strip():
        parts.append(current.strip())
    return parts


def _pieces(text: str, boundary: re.Pattern[str], keep_spans: bool) -> list[str]:
    """``text`` cut after each boundary, so that the pieces join back into ``text`` exactly."""
    spans = [m.span() for m in _SPAN.finditer(text)] if keep_spans else []
    starts = [start for start, _ in spans]
    cuts = [m.end() for m in boundary.finditer(text) if not _inside(m.start(), spans, starts)]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if a < b]


def _inside(position: int, spans: list[tuple[int, int]], starts: list[int]) -> bool:
    # Spans from one finditer never overlap, so only the last one starting before ``position`` matters.
    i = bisect_left(starts, position) - 1
    return i >= 0 and position < spans[i][1]


# --- SMS: as few segments as possible ----------------------------------------------------------

# Escaped because most of these look like their replacement: that is the point of replacing them.
_TYPOGRAPHY = str.maketrans(
    {
        # curly and low single quotes, prime, acute accent, backtick
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
        # curly and low double quotes, double prime, guillemets
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        # hyphens, figure/en/em dashes, horizontal bar, minus sign, bullets, middle dots
        **dict.fromkeys(
            "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022\u2023\u2043\u25e6\u00b7\u2219", "-"
        ),
        # tab, no-break, en/em/thin/hair and other fixed-width spaces
        **dict.fromkeys(
            "\t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000",
            " ",
        ),
        # soft hyphen, zero-width space/joiners, word joiner, byte order mark
        **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),
        "\u2026": "...",  # ellipsis
        "\u2192": "->",
        "\u2190": "<-",
        "\u00d7": "x",  # multiplication sign
        "\u2044": "/",  # fraction slash
        "\u2122": "TM",
        "\u00a9": "(c)",
        "\u00ae": "(R)",
    }
)


def _gsm7_typography(text: str) -> str | None:
    candidate = text.translate(_TYPOGRAPHY)
    return candidate if is_gsm7(candidate) else None


def _render_sms(text: str, limit: int) -> list[str]:
    whole = _gsm7_typography(text)
    if whole is not None:
        return split_text(whole, limit)
    # Real non-GSM text somewhere: parts without any are still worth replacing on their own.
    parts = []
    for part in split_text(text, limit):
        gsm = _gsm7_typography(part)
        part = gsm.strip() if gsm is not None and len(gsm) <= limit else part
        if part:
            parts.append(part)
    return parts


__all__ = [
    "BUTTON_TITLE_CHARS",
    "MAX_BUTTONS",
    "clean_choices",
    "markdown_to_text",
    "render",
    "render_buttons",
    "render_reply",
    "split_text",
]
