"""The voice adapter contract: a provider that carries phone calls, read and answered in its markup.

A call is driven by the provider's webhooks: each says what happened (the call started, the caller
spoke, the call ended) and is answered with what the call does next. The pipeline
(``pipeline.calls``) decides that step; the adapter reads the webhook (``parse_call``) and writes
the step in the provider's call markup (``call_response``: TwiML for Twilio). Routing and verifying
a call webhook are the ``ChannelAdapter``'s, as for messages. Another voice provider is one module.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from starlette.responses import Response

from frontdesk.channels.base import ChannelAdapter, RawRequest


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One voice webhook (call start, speech result, status) as the call logic needs it."""

    call_sid: str
    from_: str
    to: str
    speech_result: str | None
    confidence: float | None
    call_status: str
    digits: str | None


# --- what the call does next ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listen:
    """Say ``text`` (the caller may interrupt it by talking), then post what the caller says to ``action``."""

    text: str
    action: str
    language: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """Say ``text``, then fetch the call's next step from ``url``."""

    text: str
    url: str
    language: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """Say a last sentence and end the call."""

    text: str
    language: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Say ``text``, then connect the caller with a person at ``number``."""

    text: str
    number: str
    language: str


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over: nothing to say."""


CallStep = Listen | Redirect | HangUp | Transfer | Ended


class VoiceAdapter(ChannelAdapter):
    """A channel adapter that also answers calls."""

    # The provider's call statuses that mean the call is over.
    ended_statuses: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def parse_call(self, req: RawRequest) -> CallEvent:
        """Read a call webhook; BadRequest if it names no call."""

    @abstractmethod
    def call_response(self, step: CallStep) -> Response:
        """``step`` in the provider's call markup, as the answer to its webhook."""
