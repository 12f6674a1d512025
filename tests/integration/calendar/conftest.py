"""The runtime here runs no background workers: the tests drive the calendar sync themselves
(``runtime.calendar_sync.push_due()``), so nothing races them for an appointment."""

from __future__ import annotations

import pytest

from frontdesk.settings import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, run_workers=False)
