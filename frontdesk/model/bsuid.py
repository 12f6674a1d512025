"""WhatsApp business-scoped user ids (BSUIDs): the customer's id when WhatsApp hides their number.

Meta gives every WhatsApp user one id per business portfolio (``US.13491208655302741918``: an
ISO 3166 alpha-2 country code, a period, up to 128 letters and digits) and, for portfolios linked
under one parent, a parent id (``US.ENT.11815799212886844830``). A user who adopts a username may
show only that id: webhooks then omit ``wa_id`` and ``from``, and replies go to the id. The id is
valid only with the numbers of the portfolio that issued it, so an identity holding it is scoped to
that portfolio (``scope_of``), never global. Twilio passes the same ids (``ExternalUserId``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
PARENT_MARK = ".ENT."
# How the channel setting names the portfolio behind a WhatsApp number (see README).
PORTFOLIO_SETTING = "business_portfolio_id"


def is_bsuid(value: str | None) -> bool:
    """Whether ``value`` is a BSUID or a parent BSUID (as opposed to a phone number or chat id)."""
    return value is not None and BSUID.match(value) is not None


def is_parent(value: str | None) -> bool:
    return value is not None and is_bsuid(value) and PARENT_MARK in value


def bsuid_or_none(value: Any) -> str | None:
    """``value`` if it is a well-formed BSUID; None for anything else a payload may hold."""
    return value.strip() if isinstance(value, str) and is_bsuid(value.strip()) else None


def scope_of(channel_id: str, settings: Mapping[str, Any]) -> str:
    """The portfolio a channel's BSUIDs belong to: ``settings.business_portfolio_id`` when the
    business names it (its numbers then share customers), else the channel alone."""
    portfolio = settings.get(PORTFOLIO_SETTING)
    if isinstance(portfolio, str | int) and not isinstance(portfolio, bool) and str(portfolio).strip():
        return f"portfolio:{str(portfolio).strip()}"
    return f"channel:{channel_id}"
