"""Tenant patterns on RE2: refused syntax, bounded size (their speed: tests/integration/agents)."""

from __future__ import annotations

import pytest

from frontdesk.agents.intent import MatchText, keyword_score
from frontdesk.agents.patterns import MAX_MATCH_CHARS, PatternError, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),
        ("(?<=a)b", "invalid perl operator"),
        ("(unclosed", "missing )"),
        ("a{1001}", "invalid repetition size"),
        ("(.{100}){9}", "instructions, over 2000"),
        ("x" * 301, "longer than 300"),
    ],
)
def test_patterns_re2_cannot_run_safely_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as info:
        compile_pattern(pattern)
    assert reason in str(info.value)


def test_matching_reads_a_bounded_part_of_the_message() -> None:
    text = MatchText("x " * MAX_MATCH_CHARS + "refund")
    assert len(text.text) == MAX_MATCH_CHARS
    assert keyword_score("refund", text, 85) == 0.0
    assert keyword_score("re:refund", text, 85) == 0.0
