"""Configuration test fixtures: see tests/config_fixtures.py."""

from tests.config_fixtures import changes, db, pg_url, service  # noqa: F401  (fixtures)
