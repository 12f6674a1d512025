"""Intent classification for the router agent: which of the tenant's agents (or a person) answers.

Two classifiers give the same ``Classification``: keyword rules (words and phrases matched with
typo tolerance by rapidfuzz, or regular expressions written ``re:…``, run on RE2 by ``patterns``),
and, when the router has an ``llm`` block, an OpenAI-compatible chat model asked for
``{"target", "confidence"}``. The model is never trusted blindly: an unknown target, a malformed
answer or a failed call falls back to the rules.

The tenant writes the keywords and anyone may write the message, so the rules' cost is bounded on
both sides: so many routes and keywords of so many characters, the first ``MAX_MATCH_CHARS`` of
the message, and a time budget after which the keywords not yet scored count as misses.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rapidfuzz import fuzz, process

from frontdesk.agents.patterns import MAX_MATCH_CHARS, compile_pattern
from frontdesk.errors import LlmFailed, PatternError

HUMAN = "human"
DEFAULT_HUMAN_KEYWORDS = [
    "human",
    "real person",
    "a person",
    "representative",
    "operator",
    "speak to someone",
    "talk to someone",
]
WORD = re.compile(r"\w+", re.UNICODE)
MAX_ROUTES = 50
MAX_KEYWORDS = 100  # per route, and human_keywords
MAX_KEYWORD_CHARS = 300  # a word or phrase; patterns have their own caps
# Seconds the keyword rules may take for one message; far above what real configurations need
# (well under a millisecond), it only cuts short a configuration built to be slow.
RULES_BUDGET_SECONDS = 0.5
log = structlog.get_logger(__name__)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent_id: str
    description: str = ""
    keywords: list[str] = Field(default_factory=list, max_length=MAX_KEYWORDS)

    @field_validator("keywords")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for keyword in v:
            if keyword.startswith("re:"):
                try:
                    compile_pattern(keyword[3:])
                except PatternError as exc:
                    raise ValueError(
                        f"keyword {keyword[:60]!r} is not a valid regular expression for this server: {exc}"
                    ) from None
            elif len(keyword) > MAX_KEYWORD_CHARS:
                raise ValueError(f"keyword {keyword[:40]!r}… is longer than {MAX_KEYWORD_CHARS} characters")
            elif not WORD.search(keyword):
                raise ValueError(f"keyword {keyword!r} has no letters or digits")
        return v


class RouterLlm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # response_format {"type": "json_object"}; turn off for servers that reject it.
    json_mode: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError(f"base_url {v!r} must be an http(s) URL")
        return v.rstrip("/")


class RouterSettings(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    routes: list[Route] = Field(min_length=1, max_length=MAX_ROUTES)
    llm: RouterLlm | None = None
    human_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_HUMAN_KEYWORDS), max_length=MAX_KEYWORDS
    )
    human_description: str = "a person on the team: the customer asks for one, is upset, or nothing else fits"
    handoff_text: str = "I'm passing you to a colleague, who will get back to you shortly."
    # Where a message nothing matches goes: an agent of the routes, or "human". Default: the first route.
    default_target: str | None = None
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    # A conversation leaves its current agent only for a route matched at least this clearly.
    switch_confidence: float = Field(default=0.7, ge=0, le=1)
    # After this long without messages the conversation is classified afresh.
    idle_minutes: float = Field(default=30.0, gt=0)
    fuzzy_threshold: int = Field(default=85, ge=50, le=100)

    @model_validator(mode="after")
    def _targets(self) -> RouterSettings:
        ids = [r.agent_id for r in self.routes]
        if HUMAN in ids:
            raise ValueError('"human" is the built-in person target; it cannot be a route\'s agent_id')
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"routes name agent(s) {', '.join(duplicates)} more than once")
        if self.default_target not in (None, HUMAN, *ids):
            raise ValueError(
                f"default_target {self.default_target!r} must be one of the routes' agents or 'human'"
            )
        Route(agent_id=HUMAN, keywords=self.human_keywords)  # same keyword checks
        return self

    @property
    def fallback_target(self) -> str:
        return self.default_target or self.routes[0].agent_id

    def targets(self) -> list[Route]:
        human = Route(agent_id=HUMAN, description=self.human_description, keywords=self.human_keywords)
        return [*self.routes, human]


@dataclass
class Classification:
    target: str
    confidence: float
    method: str  # llm | rules | sticky
    scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def step(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "classification",
            "target": self.target,
            "confidence": round(self.confidence, 3),
            "method": self.method,
        }
        if self.error:
            out["llm_error"] = self.error
        return out


# -- rules ------------------------------------------------------------------------------------------


def _stem(word: str) -> str:
    # Enough English to let "policies" meet "policy" and "refunds" meet "refund".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return [_stem(w) for w in WORD.findall(text.lower())]


class MatchText:
    """A message as the keyword rules read it: its first MAX_MATCH_CHARS, in stemmed words, with
    the runs of n words that phrases of n words are compared to (built once per n)."""

    def __init__(self, text: str) -> None:
        self.text = text[:MAX_MATCH_CHARS]
        self.tokens = words(self.text)
        self._windows: dict[int, tuple[list[str], set[str]]] = {}

    def windows(self, n: int) -> tuple[list[str], set[str]]:
        if n not in self._windows:
            runs = [" ".join(self.tokens[i : i + n]) for i in range(len(self.tokens) - n + 1)]
            self._windows[n] = (runs, set(runs))
        return self._windows[n]


def keyword_score(keyword: str, text: MatchText, threshold: int) -> float:
    """1.0 for an exact (or regex) hit, the similarity for a near miss at ``threshold`` or above, else 0."""
    if keyword.startswith("re:"):
        return 1.0 if compile_pattern(keyword[3:]).search(text.text) is not None else 0.0
    phrase = words(keyword)
    if not phrase:
        return 0.0
    runs, exact = text.windows(len(phrase))
    target = " ".join(phrase)
    if target in exact:
        return 1.0
    # Short words only match exactly: "car" is not a typo of "card".
    if len(target) < 4 or not runs:
        return 0.0
    best = process.extractOne(target, runs, scorer=fuzz.ratio, score_cutoff=threshold)
    return best[1] / 100 if best is not None else 0.0


def classify_rules(
    settings: RouterSettings, text: str, budget: float = RULES_BUDGET_SECONDS
) -> Classification:
    """Score every target by its keywords; confidence drops when two targets match alike.

    Keywords still unscored when ``budget`` seconds have gone count as misses. CPU-bound: callers
    on the event loop run it in a thread (RE2 and rapidfuzz keep the loop's turns short).
    """
    deadline = time.monotonic() + budget
    message = MatchText(text)
    scores: dict[str, float] = {}
    cut_short = False
    for route in settings.targets():
        miss = 1.0
        for keyword in route.keywords:
            if time.monotonic() > deadline:
                cut_short = True
                break
            # Each hit adds to the evidence; one exact keyword alone gives 0.75.
            miss *= 1 - 0.75 * keyword_score(keyword, message, settings.fuzzy_threshold)
        scores[route.agent_id] = round(1 - miss, 4)
    if cut_short:
        log.warning("router keyword rules ran out of time; later keywords counted as misses", budget=budget)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), second = ranked[0], ranked[1][1] if len(ranked) > 1 else 0.0
    return Classification(best, max(0.0, top - 0.5 * second), "rules", scores)


# -- the model ------------------------------------------------------------------------------------


def llm_request(
    settings: RouterSettings, text: str, history: list[str], current: str | None
) -> dict[str, Any]:
    """The chat-completions request asking the model for ``{"target", "confidence"}``."""
    assert settings.llm is not None
    targets = "\n".join(
        f"- {r.agent_id}: {r.description or ', '.join(r.keywords)}" for r in settings.targets()
    )
    system = (
        "You route a customer's messages to the one target that should answer them.\n"
        f"Targets:\n{targets}\n"
        f"The conversation is currently with: {current or 'nobody yet'}. Keep it there unless the "
        "customer clearly moved to another topic.\n"
        'Answer with JSON only: {"target": "<one target id>", "confidence": <number from 0 to 1>}'
    )
    user = ("Earlier messages:\n" + "\n".join(history) + "\n\n" if history else "") + f"New message:\n{text}"
    body: dict[str, Any] = {
        "model": settings.llm.model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "temperature": 0,
    }
    if settings.llm.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def parse_llm_answer(settings: RouterSettings, data: Any) -> Classification:
    """The classification in a chat-completions response; LlmFailed when it is not usable."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LlmFailed("the response has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise LlmFailed("the model's message is not text")
    content = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    try:
        answer = json.loads(content)
    except ValueError:
        raise LlmFailed(f"the model did not answer JSON: {content[:80]!r}") from None
    if not isinstance(answer, dict):
        raise LlmFailed("the model's JSON is not an object")
    target, confidence = answer.get("target"), answer.get("confidence")
    known = {r.agent_id for r in settings.targets()}
    if target not in known:
        raise LlmFailed(f"the model chose an unknown target {target!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise LlmFailed(f"the model's confidence {confidence!r} is not a number from 0 to 1")
    return Classification(str(target), float(confidence), "llm")
