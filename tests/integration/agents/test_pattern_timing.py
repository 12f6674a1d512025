"""Tenant patterns and the knowledge search against the wall clock: linear matching on RE2, the
rules' time budget, a search cost bounded whatever the message."""

from __future__ import annotations

import time

from frontdesk.agents.intent import RouterSettings, classify_rules
from frontdesk.agents.knowledge import KnowledgeIndex
from frontdesk.agents.patterns import MAX_MATCH_CHARS, compile_pattern


def test_catastrophic_backtracking_patterns_match_in_linear_time() -> None:
    pattern = compile_pattern("(a+)+$")
    started = time.perf_counter()
    assert pattern.search("a" * 100_000 + "!") is None
    assert time.perf_counter() - started < 0.5
    assert compile_pattern(r"\bINV-\d+").search("it is inv-1234")  # case-insensitive, as before


def test_the_rules_stop_at_their_time_budget() -> None:
    slow = "re:((a|b|c|d|e|f){10}){40}!"  # allowed, but slow on RE2 past its memory budget
    settings = RouterSettings.model_validate(
        {"routes": [{"agent_id": f"a{i}", "keywords": [slow] * 100} for i in range(50)]}
    )
    started = time.perf_counter()
    found = classify_rules(settings, "a" * MAX_MATCH_CHARS, budget=0.05)
    assert time.perf_counter() - started < 1.0  # 5000 such keywords take a minute unbounded
    assert found.method == "rules" and found.confidence == 0.0


def test_knowledge_search_cost_is_bounded_whatever_the_message() -> None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(letters[(i * 7 + j * 3) % 26] for j in range(7)) + str(i) for i in range(20_000)]
    entries = [
        {"id": str(i), "question": " ".join(words[i * 10 : i * 10 + 10]), "answer": "yes", "tags": []}
        for i in range(2000)
    ]
    index = KnowledgeIndex(entries)
    # Distinct unknown words, each a fuzzy search through 20,000: unbounded, a 1 MB webhook body
    # of them took minutes.
    message = " ".join(f"zq{i:06d}xw" for i in range(100_000))
    started = time.perf_counter()
    index.search(message, limit=1)
    assert time.perf_counter() - started < 2.0
    assert index.search(entries[5]["question"], limit=1)[0].entry_id == "5"
