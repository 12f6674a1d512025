"""The voice contract: steps written as TwiML by the Twilio adapter, and the registry's voice lookup."""

from __future__ import annotations

from typing import cast

import pytest
from starlette.responses import Response

from frontdesk.channels import twiml
from frontdesk.channels.base import RawRequest
from frontdesk.channels.registry import AdapterRegistry
from frontdesk.channels.twilio import TwilioAdapter
from frontdesk.channels.voice import (
    CallEvent,
    CallStep,
    Ended,
    HangUp,
    Listen,
    Redirect,
    Transfer,
    VoiceAdapter,
)
from frontdesk.errors import NotFound
from frontdesk.model.messages import OutboundMessage, SendResult
from frontdesk.store.db import Database

GATHER, WAIT = "https://x.example/v?step=gather", "https://x.example/v?step=wait"


@pytest.mark.parametrize(
    ("step", "document"),
    [
        (Listen("Hello!", GATHER, "nl-NL"), twiml.gather("Hello!", GATHER, language="nl-NL")),
        (Listen("We open at 9.", GATHER, "en-US"), twiml.say_then_gather("We open at 9.", GATHER)),
        (Redirect("One moment.", WAIT, "en-US"), twiml.say_and_redirect("One moment.", WAIT)),
        (HangUp("Goodbye!", "en-GB"), twiml.say_and_hangup("Goodbye!", language="en-GB")),
        (Transfer("Connecting you.", "+15550001111", "en-US"), twiml.dial("Connecting you.", "+15550001111")),
    ],
)
def test_each_step_is_its_twiml_document(step: CallStep, document: str) -> None:
    response = TwilioAdapter().call_response(step)
    assert (response.body.decode(), response.media_type) == (document, "application/xml")


def test_a_call_that_is_over_gets_an_empty_document() -> None:
    assert TwilioAdapter().call_response(Ended()).body == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert "completed" in TwilioAdapter.ended_statuses and "in-progress" not in TwilioAdapter.ended_statuses


def test_the_registry_finds_the_provider_that_carries_calls() -> None:
    assert isinstance(AdapterRegistry().voice("twilio"), TwilioAdapter)
    # Mock mode only records sends; a call is answered by the real adapter.
    mocked = AdapterRegistry(cast(Database, object()), mock=True)
    assert type(mocked.voice("twilio")) is TwilioAdapter
    with pytest.raises(NotFound):
        AdapterRegistry().voice("meta")


class _Speaker(VoiceAdapter):
    """Another voice provider: what it takes is these few methods."""

    provider = "speaker"
    ended_statuses = frozenset({"done"})

    def parse_call(self, req: RawRequest) -> CallEvent:
        return CallEvent(
            req.form["id"], req.form["from"], req.form["to"], req.form.get("said"), None, "", None
        )

    def call_response(self, step: CallStep) -> Response:
        return Response(type(step).__name__)

    async def send(self, msg: OutboundMessage, channel, credentials, http) -> SendResult:  # type: ignore[no-untyped-def]
        return SendResult(None)


def test_a_voice_provider_is_one_class() -> None:
    registry = AdapterRegistry()
    registry.register(_Speaker())
    speaker = registry.voice("speaker")
    req = RawRequest("POST", "/", {}, {}, b"", {"id": "c1", "from": "+1", "to": "+2", "said": "hi"})
    assert speaker.parse_call(req).speech_result == "hi"
    assert speaker.call_response(Ended()).body == b"Ended"
