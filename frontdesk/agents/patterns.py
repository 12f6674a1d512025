"""Regular expressions that tenants write (router keywords ``re:…``), run on RE2.

Python's ``re`` backtracks: ``(a+)+$`` against two dozen ``a`` and a ``!`` takes seconds, and a
few kilobytes take forever, on the event loop every tenant shares. RE2 matches in time linear in
the text and refuses what needs backtracking (backreferences, lookarounds), so a pattern that
compiles here cannot freeze the server. The pattern's length, its compiled size, the memory RE2
may use for it and the length of text it is run against are bounded too, which bounds the cost of
every match (under a few milliseconds on 4096 characters for the largest pattern allowed).
"""

from __future__ import annotations

import functools

import re2

from frontdesk.errors import PatternError

MAX_PATTERN_CHARS = 300
# RE2 program instructions: a keyword like \bINV-\d+ takes about 10. Counted repetitions such as
# (.{100}){9} compile to thousands, and past RE2's DFA memory run 100 times slower per character.
MAX_PROGRAM_SIZE = 2000
# What RE2 may allocate to compile and run one pattern (its default is 8 MiB).
MAX_PATTERN_MEMORY = 1 << 20
# Matching (regular expressions, fuzzy keywords, knowledge search) reads at most this much of a
# message: a WhatsApp text holds 4096 characters, and nothing routes on what comes after.
MAX_MATCH_CHARS = 4096


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is reported to the tenant, not printed to stderr
    options.max_mem = MAX_PATTERN_MEMORY
    return options


# Bounded: each compiled pattern may hold up to MAX_PATTERN_MEMORY of RE2 state.
@functools.lru_cache(maxsize=256)
def compile_pattern(source: str) -> re2._Regexp:
    """``source`` compiled case-insensitively for RE2; PatternError (the reason) when it cannot be."""
    if len(source) > MAX_PATTERN_CHARS:
        raise PatternError(f"the pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        pattern = re2.compile(source, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise PatternError(
            f"{reason} (RE2 syntax: no backreferences, lookahead or lookbehind; repetitions up to {{1000}})"
        ) from None
    if pattern.programsize > MAX_PROGRAM_SIZE:
        raise PatternError(
            f"the pattern compiles to {pattern.programsize} instructions, over {MAX_PROGRAM_SIZE}: "
            "use fewer or smaller counted repetitions"
        )
    return pattern
