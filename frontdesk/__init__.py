"""Frontdesk: AI agents on business messaging channels, self-hosted and multi-tenant."""

__version__ = "0.1.0"
