from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.channels import twiml

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _parse(document: str) -> ET.Element:
    assert document.startswith(DECLARATION)
    root = ET.fromstring(document)
    assert root.tag == "Response"
    return root


def test_gather_listens_for_speech_and_posts_to_the_action() -> None:
    root = _parse(twiml.gather("How can I help?", "/voice/twilio/gather", language="nl-NL", timeout=3))
    [verb] = root
    assert verb.tag == "Gather"
    assert verb.attrib == {
        "input": "speech",
        "action": "/voice/twilio/gather",
        "method": "POST",
        "language": "nl-NL",
        "timeout": "3",
        "speechTimeout": "auto",
        "actionOnEmptyResult": "true",
    }
    [say] = verb
    assert (say.tag, say.text, say.attrib) == ("Say", "How can I help?", {"language": "nl-NL"})


def test_say_then_gather_speaks_answer_and_prompt_inside_the_gather() -> None:
    root = _parse(twiml.say_then_gather("We open at nine.", "/next", "Anything else?", voice="Polly.Joanna"))
    [verb] = root
    assert [(s.tag, s.text) for s in verb] == [("Say", "We open at nine."), ("Say", "Anything else?")]
    assert verb[0].attrib == {"language": "en-US", "voice": "Polly.Joanna"}


def test_say_then_gather_without_prompt_has_one_say() -> None:
    [verb] = _parse(twiml.say_then_gather("We open at nine.", "/next"))
    assert [s.text for s in verb] == ["We open at nine."]


def test_say_and_redirect() -> None:
    root = _parse(twiml.say_and_redirect("One moment.", "https://fd.example/voice?step=2&x=1"))
    assert [child.tag for child in root] == ["Say", "Redirect"]
    assert root[1].text == "https://fd.example/voice?step=2&x=1"
    assert root[1].attrib == {"method": "POST"}


def test_say_and_hangup() -> None:
    root = _parse(twiml.say_and_hangup("Goodbye."))
    assert [(c.tag, c.text) for c in root] == [("Say", "Goodbye."), ("Hangup", None)]


def test_dial_connects_to_a_number() -> None:
    root = _parse(
        twiml.dial("Connecting you to a colleague.", "+14155550100", caller_id="+14155550111", action="/done")
    )
    assert [c.tag for c in root] == ["Say", "Dial"]
    dial = root[1]
    assert dial.attrib == {"timeout": "30", "callerId": "+14155550111", "action": "/done", "method": "POST"}
    assert [(n.tag, n.text) for n in dial] == [("Number", "+14155550100")]


def test_dial_without_text_only_dials() -> None:
    root = _parse(twiml.dial("", "+14155550100"))
    assert [c.tag for c in root] == ["Dial"]


def test_markup_in_text_and_urls_is_escaped() -> None:
    text = 'Tom & Jerry <Hangup/> "quoted" </Say>'
    document = twiml.say_then_gather(text, "/next?a=1&b=<2>")
    assert "<Hangup" not in document
    assert "&amp;" in document and "&lt;" in document
    [verb] = _parse(document)
    assert verb.attrib["action"] == "/next?a=1&b=<2>"
    assert verb[0].text == text


def test_characters_xml_cannot_carry_are_dropped() -> None:
    [say] = _parse(twiml.say_and_hangup("bell\x07 null\x00 ok\ttab"))[:1]
    assert say.text == "bell null ok\ttab"


@given(st.text(), st.text())
def test_any_text_gives_a_well_formed_document(text: str, prompt: str) -> None:
    root = _parse(twiml.say_then_gather(text, "/next", prompt))
    said = [s.text for s in root[0]]
    # XML parsers read every line ending as "\n" (XML 1.0, 2.11).
    expected = [twiml._clean(t).replace("\r\n", "\n").replace("\r", "\n") for t in (text, prompt)]
    assert said == [t for t in expected if t.strip()]
