"""The runtime here runs no background workers: the tests drive the calendar sync themselves
(``runtime.calendar_sync.push_due()``), so nothing races them for an appointment. The operator's
allow-list opens 127.0.0.1, where the Radicale and fake Google servers listen."""

from __future__ import annotations

import pytest

from frontdesk.settings import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, run_workers=False, http_actions_allow="127.0.0.1")
