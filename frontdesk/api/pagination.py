"""Paging and numeric ids in URLs, bounded to what the databases hold.

SQLite and PostgreSQL integers are signed 64-bit: a larger ``skip`` or message id used to reach
the driver and fail there (``OverflowError``, "bigint out of range") as a 500. Every list endpoint
takes its ``skip``/``limit`` from ``pagination`` and every integer id in a path is ``DbInt``, so
an out-of-range number is a 422 naming the parameter and its bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Query

DB_INT_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Page:
    skip: int
    limit: int


def pagination(default_limit: int, max_limit: int) -> Callable[..., Page]:
    """The ``skip``/``limit`` query parameters of a list endpoint, as a FastAPI dependency."""

    def page(
        skip: int = Query(0, ge=0, le=DB_INT_MAX, description="objects to skip"),
        limit: int = Query(default_limit, ge=1, le=max_limit, description=f"page size, at most {max_limit}"),
    ) -> Page:
        return Page(skip, limit)

    return page
